// A client's week in the browser, with the real relay, a second device on the CLI and the
// therapist in a second browser profile on their own `between app`:
// - a one-tap mood check-in at phone width, by keyboard;
// - a thought record typed in the browser while Sam's phone edits the same text: the page shows
//   the merge live and the person's typing is kept;
// - the therapist comments on one field and Sam's open page shows it;
// - an out-of-range number refused beside its field, nothing stored; finishing with a question
//   unanswered refused beside that question;
// - the relay down (edits kept here, the indicator says so) and back (they leave).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { bothPeople, until, screenshot } from "./harness.mjs";

let practice, sam, dr, samApp, drApp, entryId;

let people;

before(async () => {
  people = await bothPeople();
  ({ practice, sam, dr, samApp, drApp } = people);
});

after(async () => {
  if (people) await people.close();
});

/** An entry as the laptop's own store holds it (a `between` command beside the app). */
async function stored(id) {
  const list = await practice.json("laptop", ["list"]);
  return list.entries[id] || (list.private && list.private.entries[id]);
}

test("a mood check-in at phone width, with one key press", async () => {
  await screenshot(sam, "today-phone");
  const button = sam.getByRole("button", { name: "Mood 6 of 10" });
  await button.focus();
  await sam.keyboard.press("Enter");
  await sam.getByText("Saved: mood 6 of 10").waitFor();
  const list = await practice.json("laptop", ["list"]);
  const moods = Object.values(list.entries).filter((e) => e.template === "mood-check-in");
  assert.equal(moods.length, 1);
  assert.equal(moods[0].status, "complete");
  assert.deepEqual(moods[0].values.mood, { type: "number", value: 6 });
  // Nothing on the page is wider than the phone.
  const width = await sam.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at 390 px`);
});

test("typing a thought record while the phone edits the same text: the merge shows live", async () => {
  await sam.getByRole("link", { name: "Start CBT thought record" }).click();
  await sam.getByText("After a moment that upset you").waitFor();
  await sam.getByRole("button", { name: "Start writing" }).click();
  const situation = sam.locator("#f-situation");
  await situation.waitFor();
  entryId = decodeURIComponent(new URL(sam.url()).hash.split("/").pop());
  await situation.pressSequentially("My manager walked past", { delay: 10 });
  await until("the words stored on the laptop", async () => {
    const entry = await stored(entryId);
    return entry && entry.values.situation && entry.values.situation.value === "My manager walked past";
  });
  // The phone gets the draft, and adds to the beginning of the same text.
  await practice.between("phone", ["sync"]);
  await practice.between("phone", ["entry", "edit", entryId, "--set", "situation=Monday. My manager walked past"]);
  await practice.between("phone", ["sync"]);
  // Meanwhile the person goes on typing at the end.
  await situation.pressSequentially(" without a word.", { delay: 30 });
  const merged = "Monday. My manager walked past without a word.";
  await until("the page to show both devices' words", async () => (await situation.inputValue()) === merged, 20000);
  await until("the merge stored on the laptop", async () => (await stored(entryId)).values.situation.value === merged);
  await practice.between("laptop", ["sync"]).catch(() => {});
  await practice.between("phone", ["sync"]);
  const onPhone = await practice.json("phone", ["list"]);
  assert.equal(onPhone.entries[entryId].values.situation.value, merged, "the phone has the browser's typing too");
  await screenshot(sam, "thought-record-phone");
});

test("the therapist comments on one field; the client's open page shows it", async () => {
  await dr.goto(drApp.url);
  await dr.getByRole("heading", { name: "Your clients" }).waitFor();
  await dr.getByRole("link", { name: "Sam" }).click();
  await until("Sam's entry in Dr Park's app", async () => {
    await dr.reload();
    return (await dr.getByRole("link", { name: "CBT thought record" }).count()) > 0;
  }, 30000);
  await screenshot(dr, "therapist-client");
  await dr.getByRole("link", { name: "CBT thought record" }).first().click();
  const field = dr.locator(".field", { has: dr.locator("label[for='f-situation']") });
  await until("the merged situation on the therapist's side", async () => (await dr.locator("#f-situation").inputValue()).includes("without a word"));
  await field.locator("summary", { hasText: "Comment on this" }).click();
  await field.locator("textarea#c-situation").fill("Thank you for writing this down the same day.");
  await field.getByRole("button", { name: "Send" }).click();
  const sent = Date.now();
  await dr.getByText("Comment sent.").waitFor();
  const samField = sam.locator(".field", { has: sam.locator("label[for='f-situation']") });
  await samField.getByText("Thank you for writing this down the same day.").waitFor({ timeout: 15000 });
  const took = Date.now() - sent;
  console.log(`# the comment reached the client's open page in ${took} ms`);
  // What the person was typing is still there.
  assert.equal(await sam.locator("#f-situation").inputValue(), "Monday. My manager walked past without a word.");
  await screenshot(sam, "comment-phone");
});

test("an out-of-range number is refused beside its field, and nothing is stored", async () => {
  const belief = sam.locator("#f-balanced_belief");
  await belief.fill("150");
  await belief.press("Tab");
  const error = sam.locator("#e-balanced_belief");
  await until("the error beside the field", async () => /out of range/.test(await error.textContent()));
  assert.match(await error.textContent(), /from 0 to 100/);
  assert.equal(await belief.getAttribute("aria-invalid"), "true");
  assert.equal((await stored(entryId)).values.balanced_belief, undefined, "nothing stored");
  await belief.fill("70");
  await belief.press("Tab");
  await until("70 stored", async () => (await stored(entryId)).values.balanced_belief?.value === 70);
  assert.equal(await error.textContent(), "");
  // Finishing with required questions unanswered: refused, and the first one says so.
  await sam.getByRole("button", { name: "Finish" }).click();
  await sam.getByText(/not complete yet; still to answer/).waitFor();
  assert.equal((await stored(entryId)).status, "draft");
});

test("the relay down: edits are kept and the indicator says so; back: they leave", async () => {
  const indicator = sam.locator("#sync");
  await until("online", async () => /Online/.test(await indicator.textContent()));
  await practice.stopRelay();
  await until("the indicator to say offline", async () => /Offline/.test(await indicator.textContent()), 30000);
  const evidence = sam.locator("#f-evidence_against");
  await evidence.fill("She thanked me for my work yesterday.");
  await evidence.press("Tab");
  await until("the edit stored on the laptop", async () => (await stored(entryId)).values.evidence_against?.value === "She thanked me for my work yesterday.");
  await until("the indicator to count what waits", async () => /waiting to send/.test(await indicator.textContent()), 10000);
  await screenshot(sam, "offline-phone");
  // What needs the relay now says so, as its own kind of failure, and changes nothing.
  const [status, error] = await sam.evaluate(async () => {
    const res = await fetch("/api/pairing", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": state.session.csrf }, body: "{}" });
    return [res.status, (await res.json()).error];
  });
  assert.equal(status, 503, error);
  assert.match(error, /no pairing code was made/);
  await practice.startRelay();
  await until("the indicator to say online, all sent", async () => /Online · all sent/.test(await indicator.textContent()), 60000);
  await practice.between("phone", ["sync"]);
  const onPhone = await practice.json("phone", ["list"]);
  assert.equal(onPhone.entries[entryId].values.evidence_against.value, "She thanked me for my work yesterday.");
});
