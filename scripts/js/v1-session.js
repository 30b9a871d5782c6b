// A v1 session from a real third-party client (Node.js with the ws and
// @msgpack/msgpack packages), as today's clients of the service speak it:
// streamed output, Done, two runs on one connection, then Kill.
// Usage: node v1-session.js ws://HOST:PORT/api/v1/ws/execute
// Prints one JSON line per run: {stdout, stderr, messages, done}.
const WebSocket = require("ws");
const { encode, decode } = require("@msgpack/msgpack");

const url = process.argv[2] || "ws://localhost:8500/api/v1/ws/execute";
const socket = new WebSocket(url);
socket.binaryType = "arraybuffer";

const runs = [
	{ request: { language: "python", code: "import sys\nprint('hello', sys.argv[1])", input: "", options: [], arguments: ["v1"], timeout: 10 } },
	{ request: { language: "bash", code: "echo out; echo err >&2; exit 3", input: "", options: [], arguments: [], timeout: 10 } },
	{ request: { language: "bash", code: "echo started; sleep 5", input: "", options: [], arguments: [], timeout: 10 }, killAfterFirstOutput: true },
];
let current = 0;
let state;

function start() {
	state = { stdout: "", stderr: "", messages: 0, killed: false };
	socket.send(encode(runs[current].request));
}

socket.on("open", start);
socket.on("message", (data) => {
	const msg = decode(new Uint8Array(data));
	state.messages++;
	const dec = new TextDecoder();
	if (msg.Stdout !== undefined) {
		state.stdout += dec.decode(msg.Stdout);
		if (runs[current].killAfterFirstOutput && !state.killed) {
			state.killed = true;
			socket.send(encode("Kill"));
		}
	} else if (msg.Stderr !== undefined) {
		state.stderr += dec.decode(msg.Stderr);
	} else if (msg.Done !== undefined) {
		console.log(JSON.stringify({ stdout: state.stdout, stderr: state.stderr, messages: state.messages, done: msg.Done }));
		current++;
		if (current < runs.length) {
			start();
		} else {
			socket.close(1000);
		}
	}
});
socket.on("close", (code, reason) => {
	if (current < runs.length) {
		console.error(`closed early: ${code} ${reason}`);
		process.exit(1);
	}
});
socket.on("error", (err) => {
	console.error(err.message);
	process.exit(1);
});
