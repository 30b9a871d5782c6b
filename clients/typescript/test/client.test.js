// The client against a real atod: ATOD_URL names it (e2e's
// TestTypeScriptClient starts one). Run after the build:
//   ATOD_URL=http://127.0.0.1:8500 node --experimental-websocket --test test/
const test = require("node:test");
const assert = require("node:assert/strict");
const { Client, CloseError, HTTPError } = require("../dist/index.js");

const base = process.env.ATOD_URL;
if (!base) throw new Error("set ATOD_URL to a running atod, e.g. http://127.0.0.1:8500");
const client = new Client(base);
const text = (b) => new TextDecoder().decode(b);

test("v1 streams output as it is produced, then Done", async () => {
	const conn = await client.connect();
	const chunks = [];
	const run = conn.run(
		{ language: "python", code: "import sys, time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)\nsys.exit(3)", timeout: 30 },
		{ onStdout: (c) => chunks.push(text(c)) },
	);
	const done = await run.done;
	assert.equal(chunks.join(""), "0\n1\n2\n");
	assert.ok(chunks.length >= 2, `output came in ${chunks.length} message(s)`);
	assert.equal(done.status_type, "exited");
	assert.equal(done.status_value, 3);
	assert.equal(done.oom_killed, undefined, "no extension key without limits");
	// The connection takes the next request.
	let out = "";
	await conn.run({ language: "bash", code: "echo again" }, { onStdout: (c) => (out += text(c)) }).done;
	assert.equal(out, "again\n");
	conn.close();
});

test("Kill ends a run", async () => {
	const conn = await client.connect();
	let run;
	const started = new Promise((resolve) => {
		run = conn.run({ language: "bash", code: "echo started; sleep 30", timeout: 60 }, { onStdout: resolve });
	});
	await started;
	run.kill();
	const done = await run.done;
	assert.equal(done.status_type, "killed");
	assert.equal(done.status_value, 9);
	assert.equal(done.timed_out, false);
	conn.close();
});

test("interactive input: a REPL answers each line, closeStdin is its end", async () => {
	const conn = await client.connect();
	let out = "";
	let waiting;
	const next = (want) => new Promise((resolve) => (waiting = { want, resolve }));
	const run = conn.run(
		{ language: "python", interactive: true, input: "one\n", timeout: 30, code: "import sys\nfor l in sys.stdin:\n    print('got', l.strip(), flush=True)\nprint('end')" },
		{
			onStdout: (c) => {
				out += text(c);
				if (waiting && out.endsWith(waiting.want)) waiting.resolve();
			},
		},
	);
	await next("got one\n");
	run.write("two\n");
	await next("got two\n");
	run.closeStdin();
	const done = await run.done;
	assert.equal(out, "got one\ngot two\nend\n");
	assert.equal(done.status_type, "exited");
	conn.close();
});

test("interactive input larger than a message goes in several", async () => {
	const conn = await client.connect();
	let out = "";
	const run = conn.run(
		{ language: "python", interactive: true, timeout: 30, code: "import sys\nprint(len(sys.stdin.buffer.read()))" },
		{ onStdout: (c) => (out += text(c)) },
	);
	run.write(new Uint8Array(200000).fill(120));
	run.closeStdin();
	await run.done;
	assert.equal(out, "200000\n");
	conn.close();
});

test("limits are reported in Done; a bad request closes with 1008", async () => {
	const conn = await client.connect();
	const done = await conn.run({ language: "bash", code: "while :; do :; done", limits: { cpu_time: 0.5 }, timeout: 30 }).done;
	assert.equal(done.cpu_time_exceeded, true);
	assert.equal(done.timed_out, false);
	const bad = conn.run({ language: "bash", code: "", limits: { memory_mib: 1 << 20 } });
	await assert.rejects(bad.done, (e) => e instanceof CloseError && e.code === 1008 && /limits\.memory_mib/.test(e.reason));
});

test("HTTP: execute with files, metadata, limits, errors", async () => {
	const r = await client.execute({
		language: "bash",
		code: "cat data/a; printf '\\377'",
		files: { "data/a": "from a file\n" },
		limits: { output: 100 },
	});
	assert.equal(r.status_type, "exited");
	assert.deepEqual([...r.stdout], [...new TextEncoder().encode("from a file\n"), 0xff]);
	assert.equal(r.cpu_time_exceeded, false);
	const md = await client.metadata();
	assert.equal(md.bash.name, "Bash");
	const most = await client.limits();
	assert.ok(most.memory_mib >= 8 && most.cpu_time > 0, JSON.stringify(most));
	await assert.rejects(client.execute({ language: "no-such-language", code: "" }), (e) => e instanceof HTTPError && e.status === 400 && /no such language/.test(e.reason));
});
