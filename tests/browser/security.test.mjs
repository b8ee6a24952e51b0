// The local server's safety, tried as another program or web page on the machine would:
// a wrong Host (DNS rebinding), a foreign Origin, no CSRF token, no session, a used link —
// each refused with nothing stored — and the headers every answer carries.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Practice, rawRequest, launchBrowser } from "./harness.mjs";

let practice, app, cookie, csrf, doc;

before(async () => {
  practice = new Practice();
  await practice.setUp();
  app = await practice.startApp("laptop");
  // Sign in as the browser would, by the one-time link.
  const open = await rawRequest(app.port, { path: new URL(app.url).pathname + new URL(app.url).search, headers: { host: `127.0.0.1:${app.port}` } });
  assert.equal(open.status, 303);
  cookie = open.headers["set-cookie"][0].split(";")[0];
  const session = await rawRequest(app.port, { path: "/api/session", headers: { host: `127.0.0.1:${app.port}`, cookie } });
  assert.equal(session.status, 200, session.body);
  ({ csrf } = JSON.parse(session.body));
  doc = JSON.parse(session.body).documents[0].id;
});

after(async () => { await practice.close(); });

const moods = async () => (await practice.json("laptop", ["list"])).entries;
const countMoods = async () => Object.values(await moods()).filter((e) => e.template === "mood-check-in").length;

function post(headers) {
  return rawRequest(app.port, {
    method: "POST", path: `/api/docs/${doc}/mood`, body: JSON.stringify({ mood: 5 }),
    headers: { "content-type": "application/json", host: `127.0.0.1:${app.port}`, origin: `http://127.0.0.1:${app.port}`, cookie, "x-csrf-token": csrf, ...headers },
  });
}

test("a well-formed change from the app's own page is stored", async () => {
  const before = await countMoods();
  const res = await post({});
  assert.equal(res.status, 200, res.body);
  assert.equal(await countMoods(), before + 1);
});

test("refused: a wrong Host, a foreign Origin, no CSRF token, no session — nothing stored", async () => {
  const before = await countMoods();
  const cases = [
    ["a DNS-rebinding Host", { host: `evil.example:${app.port}` }, 421, /answers only at 127\.0\.0\.1/],
    ["another port's Host", { host: `127.0.0.1:${app.port + 1}` }, 421, /answers only/],
    ["a foreign Origin", { origin: "http://evil.example" }, 403, /another page or site/],
    ["a cross-site fetch", { "sec-fetch-site": "cross-site" }, 403, /another page or site/],
    ["no CSRF token", { "x-csrf-token": "" }, 403, /did not come from an open Between page/],
    ["a wrong CSRF token", { "x-csrf-token": "0".repeat(64) }, 403, /did not come from an open Between page/],
    ["no session", { cookie: "" }, 401, /not signed in/],
    ["another session", { cookie: `between_${app.port}=${"1".repeat(64)}` }, 401, /not signed in/],
  ];
  for (const [what, headers, status, message] of cases) {
    const res = await post(headers);
    assert.equal(res.status, status, `${what}: ${res.body}`);
    assert.match(JSON.parse(res.body).error, message, what);
  }
  // A read without a session gets nothing either.
  const read = await rawRequest(app.port, { path: `/api/docs/${doc}/entries`, headers: { host: `127.0.0.1:${app.port}` } });
  assert.equal(read.status, 401);
  assert.doesNotMatch(read.body, /mood/);
  assert.equal(await countMoods(), before, "no refused request stored anything");
});

test("the opening link works once, and every answer carries the safety headers", async () => {
  const again = await rawRequest(app.port, { path: new URL(app.url).pathname + new URL(app.url).search, headers: { host: `127.0.0.1:${app.port}` } });
  assert.equal(again.status, 401);
  assert.match(again.body, /each link works once/);
  for (const res of [again, await rawRequest(app.port, { path: "/", headers: { host: `127.0.0.1:${app.port}`, cookie } })]) {
    assert.match(res.headers["content-security-policy"], /default-src 'none'; script-src 'self'; style-src 'self'/);
    assert.doesNotMatch(res.headers["content-security-policy"], /unsafe-inline/);
    assert.equal(res.headers["cache-control"], "no-store");
    assert.equal(res.headers["x-frame-options"], "DENY");
  }
});

test("a page on another origin cannot use the app, even in the same browser", async () => {
  const browser = await launchBrowser();
  try {
    // A second app on the same profile (the first one's link is used): this browser signs in.
    const own = await practice.startApp("laptop");
    const page = await browser.newPage();
    await page.goto(own.url);
    await page.waitForSelector("text=Your homework");
    const before = await countMoods();
    // localhost is another origin than 127.0.0.1 for the browser; the page there tries a change.
    await page.goto(`http://localhost:${own.port}/assets/app.css`);
    const status = await page.evaluate(async ([port, doc]) => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/docs/${doc}/mood`, { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: "{\"mood\":1}" });
        return res.status;
      } catch (err) { return `blocked: ${err.message}`; }
    }, [own.port, doc]);
    assert.notEqual(status, 200, `a cross-origin change went through: ${status}`);
    assert.equal(await countMoods(), before);
  } finally { await browser.close(); }
});

test("bad input gets a clear JSON error naming the field, and stores nothing", async () => {
  const before = await practice.json("laptop", ["list"]);
  const send = (path, body) => rawRequest(app.port, {
    method: "POST", path, body,
    headers: { "content-type": "application/json", host: `127.0.0.1:${app.port}`, origin: `http://127.0.0.1:${app.port}`, cookie, "x-csrf-token": csrf },
  });
  const cases = [
    ["not JSON", `/api/docs/${doc}/mood`, "{mood: ", 400, null, /not what this part of the app takes/],
    ["the wrong shape", `/api/docs/${doc}/mood`, JSON.stringify({ mood: "six" }), 400, null, /not what this part of the app takes/],
    ["a mood of 11", `/api/docs/${doc}/mood`, JSON.stringify({ mood: 11 }), 422, "mood", /out of range/],
    ["an impossible date", `/api/docs/${doc}/entries`, JSON.stringify({ template: "journal", date: "2026-02-30" }), 422, "date", /date/],
    ["an unknown template", `/api/docs/${doc}/entries`, JSON.stringify({ template: "no-such-sheet" }), 422, null, /template/],
    ["an unknown document", `/api/docs/0123456789abcdef0123456789abcdef/mood`, JSON.stringify({ mood: 5 }), 404, null, /no homework with the id/],
    ["an unknown entry", `/api/docs/${doc}/entries/ffffffffffffffff/value`, JSON.stringify({ field: "text", value: null }), 404, null, /no entry/],
  ];
  for (const [what, path, body, status, field, message] of cases) {
    const res = await send(path, body);
    assert.equal(res.status, status, `${what}: ${res.body}`);
    const json = JSON.parse(res.body);
    assert.match(json.error, message, what);
    if (field) assert.equal(json.field, field, what);
  }
  const after = await practice.json("laptop", ["list"]);
  assert.equal(Object.keys(after.entries).length, Object.keys(before.entries).length, "nothing stored");
});
