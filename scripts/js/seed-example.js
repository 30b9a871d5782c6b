// The JavaScript example of the service's v0 API reference ("WebSocket API
// Example"; the project started from that document, hence "seed"), as
// README.md shows it, run by Node.js as a real third-party client: the
// function body is the example's, with the URL pointed at a local atod
// (argv[2], default ws://localhost:8500/api/v0/ws/execute).
//
// Browsers' WebSocket delivers binary messages as Blobs, which the example
// reads with event.data.stream(); the ws package does the same once its
// binaryType is "blob", so the global WebSocket below is ws with the browser's
// default.
const WS = require("ws");
globalThis.WebSocket = class extends WS {
	constructor(...args) {
		super(...args);
		this.binaryType = "blob";
	}
};
globalThis.msgpack = require("@msgpack/msgpack");
const url = process.argv[2] || "ws://localhost:8500/api/v0/ws/execute";

function ato_run()
{
	let socket = new WebSocket(url);
	socket.onopen = () => socket.send(msgpack.encode({
		language: "c_gcc", // get this from https://github.com/attempt-this-online/attempt-this-online/tree/main/runners
		code: 'main(){printf("%d",a);}',
		input: "",
		options: ["-Da=42"],
		arguments: [],
		timeout: 60,
	}));
	socket.onmessage = async event => {
		let response = await msgpack.decodeAsync(event.data.stream());
		console.log("stdout:", new TextDecoder().decode(response.stdout));
	}
}

ato_run();
