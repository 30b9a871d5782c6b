// atod-client: a client of atod's API (docs/api.md) for browsers and
// Node.js: the v1 websocket (streamed output, Kill, interactive stdin, any
// number of runs on one connection) and the HTTP API (execute, metadata,
// limits). It uses the platform's standard WebSocket and fetch, and
// @msgpack/msgpack for the websocket's messages.

import { encode, decode } from "@msgpack/msgpack";

/** Bytes as a request carries them: a string is its UTF-8. */
export type Bytes = string | Uint8Array;

/** What a run may use (docs/api.md, "Limits"); each at most the server's. */
export interface Limits {
	memory_mib?: number;
	pids?: number;
	cpus?: number;
	/** seconds of CPU time, every process together */
	cpu_time?: number;
	/** bytes kept of each output stream */
	output?: number;
	tmpfs_mib?: number;
	root_mib?: number;
}

/** One program to run. */
export interface Request {
	language: string;
	code: Bytes;
	input?: Bytes;
	options?: Bytes[];
	arguments?: Bytes[];
	/** seconds, 1 to 60 (the server's default: 60) */
	timeout?: number;
	/** a Bash script run instead of the language's runner */
	customRunner?: Bytes;
	limits?: Limits;
	/** files for the run's working directory, by relative path */
	files?: Record<string, Bytes>;
	/** websocket only: the program's stdin comes from Run.write and Run.closeStdin */
	interactive?: boolean;
}

/** How a run ended: v1's Done message. */
export interface Done {
	status_type: "exited" | "killed" | "core_dumped" | "unknown";
	status_value: number;
	timed_out: boolean;
	stdout_truncated: boolean;
	stderr_truncated: boolean;
	/** ns */
	real: number;
	kernel: number;
	user: number;
	/** KiB */
	max_mem: number;
	waits: number;
	preemptions: number;
	major_page_faults: number;
	minor_page_faults: number;
	input_ops: number;
	output_ops: number;
	/** only for a request with limits */
	oom_killed?: boolean;
	cpu_time_exceeded?: boolean;
}

/** The HTTP API's answer: Done's fields, the output, and some more. */
export interface Result extends Omit<Done, "oom_killed"> {
	stdout: Uint8Array;
	stderr: Uint8Array;
	oom_killed: boolean;
	memory_peak: number;
	cpu_throttled_periods: number;
	cpu_throttled_time: number;
}

/** A language that can run: GET /api/v1/metadata's entries. */
export interface Language {
	name: string;
	image: string;
	version: string;
	url: string;
	sbcs: boolean;
	se_class?: string;
}

/** The server closed the connection: its close code and reason say why. */
export class CloseError extends Error {
	constructor(
		readonly code: number,
		readonly reason: string,
	) {
		super(`atod closed the connection: ${code} ${reason}`);
		this.name = "CloseError";
	}
}

/** The HTTP API answered with an error status. */
export class HTTPError extends Error {
	constructor(
		readonly status: number,
		readonly reason: string,
	) {
		super(`atod answered ${status}: ${reason}`);
		this.name = "HTTPError";
	}
}

/** A WebSocket constructor: the platform's, or one given (ws, say). */
export type WebSocketConstructor = new (url: string) => WebSocket;

export interface ClientOptions {
	/** a bearer token for the API (HTTP; a browser's WebSocket cannot send one) */
	token?: string;
	/** the WebSocket constructor to use instead of the platform's */
	WebSocket?: WebSocketConstructor;
	/** the fetch to use instead of the platform's */
	fetch?: typeof fetch;
}

const utf8 = new TextEncoder();

function bytes(b: Bytes): Uint8Array {
	return typeof b === "string" ? utf8.encode(b) : b;
}

/**
 * The request map of req, in the contract's keys, its byte strings as enc
 * makes them (bin for msgpack, a string or base64 for JSON).
 */
function requestMap(req: Request, enc: (b: Bytes) => unknown): Record<string, unknown> {
	const m: Record<string, unknown> = {
		language: req.language,
		code: enc(req.code),
		input: enc(req.input ?? ""),
		options: (req.options ?? []).map(enc),
		arguments: (req.arguments ?? []).map(enc),
	};
	if (req.timeout !== undefined) m.timeout = req.timeout;
	if (req.customRunner !== undefined) m.custom_runner = enc(req.customRunner);
	if (req.limits !== undefined) m.limits = encodeLimits(req.limits);
	if (req.files !== undefined) {
		const files: Record<string, unknown> = {};
		for (const [path, data] of Object.entries(req.files)) files[path] = enc(data);
		m.files = files;
	}
	if (req.interactive) m.interactive = true;
	return m;
}

/** The msgpack request map of req, as the websocket takes it. */
export function encodeRequest(req: Request): Uint8Array {
	return encode(requestMap(req, bytes));
}

// cpus and cpu_time are numbers; msgpack's encoder writes an integral
// number as an integer, which the server takes for them too.
function encodeLimits(l: Limits): Record<string, number> {
	const out: Record<string, number> = {};
	for (const [k, v] of Object.entries(l)) if (v !== undefined) out[k] = v;
	return out;
}

/** A client of one atod server, e.g. new Client("http://localhost:8500"). */
export class Client {
	private readonly base: string;

	constructor(
		base: string,
		private readonly opts: ClientOptions = {},
	) {
		this.base = base.replace(/\/+$/, "");
	}

	/** Opens a v1 websocket connection, which runs one request at a time. */
	connect(): Promise<Connection> {
		const url = this.base.replace(/^http/, "ws") + "/api/v1/ws/execute";
		const WS = this.opts.WebSocket ?? globalThis.WebSocket;
		if (!WS) {
			return Promise.reject(new Error("no WebSocket: pass one in ClientOptions (Node.js before 22: --experimental-websocket, or the ws package)"));
		}
		const socket = new WS(url);
		socket.binaryType = "arraybuffer";
		return new Promise((resolve, reject) => {
			socket.onopen = () => resolve(new Connection(socket));
			socket.onerror = () => reject(new Error(`connecting to ${url} failed`));
			socket.onclose = (e) => reject(new CloseError(e.code, e.reason));
		});
	}

	/** Runs req through POST /api/v1/execute and answers its result. */
	async execute(req: Request): Promise<Result> {
		const r = await this.http("POST", "/api/v1/execute", JSON.stringify(requestMap(req, jsonBytes)));
		return { ...r, stdout: fromJSONBytes(r.stdout), stderr: fromJSONBytes(r.stderr) } as Result;
	}

	/** The languages that can run here, by id. */
	metadata(): Promise<Record<string, Language>> {
		return this.http("GET", "/api/v1/metadata");
	}

	/** The most a request's limits may ask. */
	limits(): Promise<Required<Limits>> {
		return this.http("GET", "/api/v1/limits");
	}

	private async http(method: string, path: string, body?: string): Promise<any> {
		const headers: Record<string, string> = { Accept: "application/json" };
		if (body !== undefined) headers["Content-Type"] = "application/json";
		if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
		const resp = await (this.opts.fetch ?? fetch)(this.base + path, { method, headers, body });
		const text = await resp.text();
		let parsed: any;
		try {
			parsed = JSON.parse(text);
		} catch {
			parsed = { error: text };
		}
		if (!resp.ok) throw new HTTPError(resp.status, parsed?.error ?? text);
		return parsed;
	}
}

// jsonBytes is b as the HTTP API's JSON takes bytes: a string, or base64.
function jsonBytes(b: Bytes): string | { base64: string } {
	if (typeof b === "string") return b;
	let s = "";
	for (const c of b) s += String.fromCharCode(c);
	return { base64: btoa(s) };
}

function fromJSONBytes(v: string | { base64: string }): Uint8Array {
	if (typeof v === "string") return utf8.encode(v);
	return Uint8Array.from(atob(v.base64), (c) => c.charCodeAt(0));
}

/** What a run's caller hears of it as it goes. */
export interface RunHandlers {
	onStdout?: (chunk: Uint8Array) => void;
	onStderr?: (chunk: Uint8Array) => void;
}

/** A v1 websocket connection. */
export class Connection {
	private current?: Run;
	private closed?: CloseError;

	constructor(private readonly socket: WebSocket) {
		socket.onmessage = (e) => this.message(e.data as ArrayBuffer);
		socket.onclose = (e) => {
			this.closed = new CloseError(e.code, e.reason);
			this.current?.end(undefined, this.closed);
			this.current = undefined;
		};
	}

	/** Starts req; a connection runs one request at a time. */
	run(req: Request, handlers: RunHandlers = {}): Run {
		if (this.current) throw new Error("a run is in progress on this connection");
		if (this.closed) throw this.closed;
		const run = new Run(this.socket, handlers);
		this.current = run;
		this.socket.send(encodeRequest(req));
		return run;
	}

	/** Closes the connection (a run in progress is killed by the server). */
	close(): void {
		this.socket.close(1000);
	}

	private message(data: ArrayBuffer): void {
		const msg = decode(new Uint8Array(data)) as Record<string, unknown>;
		const run = this.current;
		if (!run) return;
		if (msg.Stdout instanceof Uint8Array) run.handlers.onStdout?.(msg.Stdout);
		else if (msg.Stderr instanceof Uint8Array) run.handlers.onStderr?.(msg.Stderr);
		else if (msg.Done !== undefined) {
			this.current = undefined;
			run.end(msg.Done as Done);
		}
	}
}

/**
 * The most data one Stdin message carries: {"Stdin": bin} takes 10 bytes
 * more (a fixmap, the key, a bin 16 header), within the 65536 a message may
 * have.
 */
export const maxStdinChunk = 65526;

/** A run in progress on a Connection. */
export class Run {
	/** Resolves with the run's Done; rejects with a CloseError if the connection ends first. */
	readonly done: Promise<Done>;
	private settle!: (d: Done) => void;
	private fail!: (e: Error) => void;

	constructor(
		private readonly socket: WebSocket,
		readonly handlers: RunHandlers,
	) {
		this.done = new Promise((resolve, reject) => {
			this.settle = resolve;
			this.fail = reject;
		});
	}

	/** Kills the run: its Done follows (killed/9). */
	kill(): void {
		this.socket.send(encode("Kill"));
	}

	/**
	 * An interactive run's stdin: sends data to the program, in messages of
	 * at most maxStdinChunk bytes (a message may be 65536 bytes at most).
	 * The server holds at most 1 MiB the program has not read: past it, it
	 * ends the run and the connection (the run's done rejects, 1008).
	 */
	write(data: Bytes): void {
		const b = bytes(data);
		let i = 0;
		do {
			this.socket.send(encode({ Stdin: b.subarray(i, i + maxStdinChunk) }));
			i += maxStdinChunk;
		} while (i < b.length);
	}

	/** Ends an interactive run's stdin. */
	closeStdin(): void {
		this.socket.send(encode("CloseStdin"));
	}

	/** @internal */
	end(done?: Done, err?: Error): void {
		if (done) this.settle(done);
		else this.fail(err ?? new Error("the run ended without Done"));
	}
}
