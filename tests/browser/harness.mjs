// The real parts for the browser tests: the `between-relay` binary serving TLS on loopback,
// `between` profiles in a temporary folder, `between app` for each person, and headless
// Chromium (Debian's) driven by playwright-core. `tests/tests/browser.rs` runs this suite
// inside `cargo test` and passes the binaries and the practice's TLS files in the environment.

import { spawn, execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import http from "node:http";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through \`cargo test --test browser\``);
  return value;
};

export const BIN = () => env("BETWEEN_BIN");
export const RELAY_BIN = () => env("BETWEEN_RELAY_BIN");

/** Waits until `check()` is truthy (polling), or fails saying what it waited for. */
export async function until(what, check, timeout = 20000) {
  const start = Date.now();
  let last;
  for (;;) {
    try { last = await check(); if (last) return last; } catch (err) { last = err; }
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a child's standard output until a line matches `pattern`. */
function waitForLine(child, pattern, what) {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), 30000);
    const onData = (chunk) => {
      seen += chunk.toString();
      const match = seen.match(pattern);
      if (match) { clearTimeout(timer); resolve(match); }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk) => { seen += chunk.toString(); });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code}): ${seen}`)); });
  });
}

/** A practice: a TLS relay, and `between` profiles under one temporary folder. */
export class Practice {
  constructor() {
    this.root = mkdtempSync(join(process.env.BETWEEN_TEST_DIR || tmpdir(), "practice-"));
    this.dataDir = join(this.root, "data");
    mkdirSync(this.dataDir, { recursive: true });
    this.children = new Set();
    this.port = 0;
  }

  /** Starts (or restarts, on the same port) the relay. */
  async startRelay() {
    const child = spawn(RELAY_BIN(), ["--db", join(this.root, "relay.sqlite3"), "serve", "--listen", `127.0.0.1:${this.port}`,
      "--tls-cert", env("BETWEEN_TLS_CERT"), "--tls-key", env("BETWEEN_TLS_KEY")], { stdio: ["ignore", "pipe", "pipe"] });
    this.children.add(child);
    const match = await waitForLine(child, /listening on (wss:\/\/127\.0\.0\.1:(\d+))/, "the relay");
    this.port = Number(match[2]);
    this.origin = match[1];
    this.relay = child;
  }

  /** Stops the relay, as a network outage would. */
  async stopRelay() {
    const child = this.relay;
    this.relay = null;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    this.children.delete(child);
  }

  /** Runs `between --profile PROFILE ARGS...`; resolves with its standard output. */
  between(profile, args, extraEnv = {}) {
    return new Promise((resolve, reject) => {
      execFile(BIN(), ["--profile", profile, ...args], {
        env: { ...process.env, BETWEEN_DATA_DIR: this.dataDir, ...extraEnv },
      }, (err, stdout, stderr) => {
        if (err) reject(new Error(`between --profile ${profile} ${args.join(" ")} failed: ${stderr || err.message}`));
        else resolve(stdout);
      });
    });
  }

  async json(profile, args) { return JSON.parse(await this.between(profile, ["--json", ...args])); }

  relayCommand(args) {
    return new Promise((resolve, reject) => {
      execFile(RELAY_BIN(), ["--db", join(this.root, "relay.sqlite3"), ...args], (err, stdout, stderr) => {
        if (err) reject(new Error(`between-relay ${args.join(" ")} failed: ${stderr}`)); else resolve(stdout.trim());
      });
    });
  }

  /** Dr Ada Park (`dr`), Sam's laptop (`laptop`) and phone (`phone`), homework assigned. */
  async setUp() {
    await this.startRelay();
    const ca = env("BETWEEN_CA_FILE");
    const drInvite = await this.relayCommand(["invite", "therapist", "--label", "Dr Ada Park"]);
    await this.between("dr", ["init", "--relay", this.origin, "--invite", drInvite, "--role", "therapist", "--name", "Dr Ada Park", "--device-name", "office", "--ca-file", ca]);
    const invite = (await this.json("dr", ["client", "invite"])).invite;
    await this.between("laptop", ["init", "--invite", invite, "--name", "Sam", "--device-name", "laptop", "--ca-file", ca]);
    const code = (await this.between("laptop", ["device", "add"])).trim();
    await this.between("laptop", ["sync"]);
    await this.between("phone", ["init", "--relay", this.origin, "--pair", code, "--name", "Sam", "--device-name", "phone", "--ca-file", ca]);
    await this.between("dr", ["sync"]);
    await this.between("dr", ["-c", "Sam", "assignment", "create", "-t", "thought-record", "--every", "daily",
      "--instructions", "After a moment that upset you, write it down the same day."]);
    await this.between("dr", ["-c", "Sam", "assignment", "create", "-t", "mood-check-in", "--every", "daily"]);
    await this.between("dr", ["sync"]);
    await this.between("laptop", ["sync"]);
    await this.between("phone", ["sync"]);
  }

  /** Starts `between app` for `profile`; resolves with its one-time opening link. */
  async startApp(profile) {
    const child = spawn(BIN(), ["--profile", profile, "app", "--no-open"], {
      env: { ...process.env, BETWEEN_DATA_DIR: this.dataDir }, stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    const match = await waitForLine(child, /Between is open at (http:\/\/127\.0\.0\.1:(\d+)\/open\?key=[0-9a-f]+)/, `between app (${profile})`);
    return { url: match[1], port: Number(match[2]), base: `http://127.0.0.1:${match[2]}`, child };
  }

  async close() {
    for (const child of this.children) child.kill("SIGKILL");
    this.children.clear();
  }
}

/** Headless Chromium from Debian's package, with the flags this machine's closed network needs. */
export async function launchBrowser() {
  const executablePath = process.env.BETWEEN_CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: install Debian's chromium package (.ci/run does) or set BETWEEN_CHROMIUM`);
  }
  return chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

/** A raw HTTP request, with any Host, Origin or cookie (a browser would not let a page forge them). */
export function rawRequest(port, { method = "GET", path = "/", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let data = "";
      res.on("data", (c) => { data += c; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Where screenshots for the docs go, when asked for (`BETWEEN_SCREENSHOTS=dir`). */
export async function screenshot(page, name) {
  const dir = process.env.BETWEEN_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`) });
}

/** The practice with both people in the browser: Sam's app on a phone-sized page (signed in,
 *  on today's homework) and Dr Park's on a laptop-sized one (not signed in yet: `dr.goto(drApp.url)`).
 *  `close()` ends the browser and every process. */
export async function bothPeople() {
  // The browser first: without Chromium the suite fails at once, before any process starts
  // (a relay or app left running would keep the test runner waiting for ever).
  const browser = await launchBrowser();
  const practice = new Practice();
  const close = async () => { await browser.close(); await practice.close(); };
  try {
    await practice.setUp();
    const samApp = await practice.startApp("laptop");
    const drApp = await practice.startApp("dr");
    const sam = await (await browser.newContext({ viewport: { width: 390, height: 844 }, acceptDownloads: true })).newPage();
    const dr = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await sam.goto(samApp.url);
    await sam.getByRole("heading", { name: "Your homework" }).waitFor();
    return { practice, browser, sam, dr, samApp, drApp, close };
  } catch (err) {
    await close();
    throw err;
  }
}
