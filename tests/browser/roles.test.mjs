// The rest of both roles' homework tasks from the user guide, done in the browser and checked
// with the `between` command on the same or another device:
// client — a goal with small steps, a private entry shared later, export, safety numbers, a new
// device paired with the code the page shows, the relay's record;
// therapist — assign from a template with a schedule, adjust with a reason, review a risk flag.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { bothPeople, until, screenshot } from "./harness.mjs";

let practice, sam, dr, samApp, drApp, doc;

let people;

before(async () => {
  people = await bothPeople();
  ({ practice, sam, dr, samApp, drApp } = people);
  await dr.goto(drApp.url);
  await dr.getByRole("heading", { name: "Your clients" }).waitFor();
  doc = (await practice.json("laptop", ["list"])).meta.document_id;
});

after(async () => {
  if (people) await people.close();
});

test("a goal with small steps, one ticked off", async () => {
  await sam.getByRole("link", { name: "Goals" }).click();
  await sam.getByText("Set a new goal").click();
  await sam.getByLabel("The goal").fill("Sleep better");
  await sam.getByLabel("Small steps, one per line (optional)").fill("No phone in bed\nUp at 7");
  await sam.getByRole("button", { name: "Save the goal" }).click();
  await sam.getByRole("heading", { name: "Sleep better" }).waitFor();
  await sam.getByLabel("Up at 7").check();
  await until("the step ticked on the laptop", async () => {
    const goals = Object.values((await practice.json("laptop", ["list"])).goals);
    return goals.length === 1 && goals[0].steps.find((s) => s.text === "Up at 7")?.done === true;
  });
});

test("a private entry, shared later; the therapist sees it only then", async () => {
  await sam.getByRole("link", { name: "Entries" }).click();
  const picker = sam.getByLabel("Write something new");
  await picker.selectOption("journal");
  // Another device's change arrives while the person is choosing (the phone writes an entry and
  // syncs): the page redraws with the new entry and keeps the worksheet they chose.
  const listed = await sam.locator("ul.list li").count();
  await practice.between("phone", ["sync"]);
  await practice.between("phone", ["entry", "new", "-t", "journal", "--set", "text=Written on the phone"]);
  await practice.between("phone", ["sync"]);
  await until("the page to redraw with the phone's entry", async () => (await sam.locator("ul.list li").count()) > listed, 30000);
  assert.equal(await picker.inputValue(), "journal", "a redraw kept the worksheet the person chose");
  await sam.getByRole("button", { name: "Start" }).click();
  await sam.getByLabel("Only me").check();
  await sam.getByRole("button", { name: "Start writing" }).click();
  const text = sam.locator("textarea").first();
  await text.pressSequentially("A hard day, but I went for the walk.", { delay: 5 });
  await text.blur();
  await sam.locator("#saved").filter({ hasText: "Saved." }).waitFor();
  const id = decodeURIComponent(new URL(sam.url()).hash.split("/").pop());
  await until("the private entry stored", async () => (await practice.json("laptop", ["list"])).private?.entries[id]);
  await practice.between("dr", ["sync"]);
  assert.equal((await practice.json("dr", ["-c", "Sam", "list"])).entries[id], undefined, "not shared yet");
  await sam.getByRole("button", { name: "Share with my therapist" }).click();
  await sam.getByText("shared with your therapist").first().waitFor();
  await until("the therapist to get it", async () => {
    await practice.between("dr", ["sync"]);
    const got = (await practice.json("dr", ["-c", "Sam", "list"])).entries[id];
    if (got?.values.text?.value === "A hard day, but I went for the walk.") return true;
    const here = await practice.json("laptop", ["list"]);
    throw new Error(`therapist has ${JSON.stringify(got?.values)}; laptop shared ${JSON.stringify(here.entries[id]?.values)}, private ${JSON.stringify(here.private?.entries[id]?.values)}`);
  }, 30000);
});

test("export, safety numbers, a new device paired from the page, the relay's record", async () => {
  await sam.getByRole("link", { name: "Privacy" }).click();
  await sam.getByRole("heading", { name: "Safety numbers" }).waitFor();
  const whois = await practice.json("laptop", ["whois"]);
  await sam.getByText(whois.me.safety_number).waitFor();
  const download = sam.waitForEvent("download");
  await sam.getByRole("link", { name: "Export as JSON" }).click();
  const file = await (await download).path();
  const exported = JSON.parse(readFileSync(file, "utf8"));
  assert.equal(exported.meta.document_id, doc);
  assert.equal(Object.values(exported.goals)[0].title, "Sleep better");

  await sam.getByRole("button", { name: "Add a device" }).click();
  const code = (await sam.locator("strong").filter({ hasText: /^[0-9A-Z]{4}-/ }).first().textContent()).trim();
  assert.ok(await sam.getByRole("img", { name: /QR code of the pairing code/ }).isVisible());
  await screenshot(sam, "privacy-phone");
  await practice.between("tablet", ["init", "--relay", practice.origin, "--pair", code, "--name", "Sam", "--device-name", "tablet", "--ca-file", process.env.BETWEEN_CA_FILE]);
  await practice.between("tablet", ["sync"]);
  const onTablet = await practice.json("tablet", ["list"]);
  assert.equal(Object.values(onTablet.goals)[0].title, "Sleep better", "the new device holds the homework");

  await sam.getByRole("button", { name: "Show the record" }).click();
  await sam.locator("table").getByText(/sign/i).first().waitFor({ timeout: 20000 });
});

test("the therapist assigns, adjusts with a reason and reviews a risk flag", async () => {
  await dr.getByRole("link", { name: "Sam" }).click();
  await dr.getByRole("link", { name: "Assign homework" }).click();
  await dr.getByLabel("Worksheet", { exact: true }).selectOption("behavioural-activation");
  await dr.getByLabel("Instructions for your client").fill("Plan one small pleasant activity a day.");
  await dr.locator("#a-every").fill("3/week");
  await dr.getByRole("button", { name: "Assign" }).click();
  await dr.getByText("Assigned.").waitFor();
  await until("the client's device to get it", async () => {
    await practice.between("laptop", ["sync"]);
    const list = await practice.json("laptop", ["list"]);
    return Object.values(list.assignments).find((a) => a.template === "behavioural-activation" && a.instructions === "Plan one small pleasant activity a day.");
  }, 30000);

  // A refused schedule says so beside the form, and nothing is assigned.
  await dr.getByRole("link", { name: "Assign homework" }).click();
  await dr.getByRole("heading", { name: "Assign homework" }).waitFor();
  await dr.locator("#a-every").fill("every blue moon");
  await dr.getByRole("button", { name: "Assign" }).click();
  await dr.locator("#assign-error").filter({ hasText: /./ }).waitFor();
  await dr.goBack();
  await dr.getByRole("heading", { name: "Sam" }).waitFor();

  const adjust = dr.locator("details", { hasText: "Adjust Behavioural activation" });
  await adjust.locator("summary").click();
  await adjust.getByLabel("Minutes each time").fill("20");
  await adjust.getByLabel("Why (the client sees it)").fill("Shorter days this week.");
  await adjust.getByRole("button", { name: "Save the change" }).click();
  await dr.getByText("Adjusted.").waitFor();
  await until("the adjustment with its reason", async () => {
    await practice.between("dr", ["sync"]).catch(() => {});
    const list = await practice.json("dr", ["-c", "Sam", "list"]);
    const ba = Object.values(list.assignments).find((a) => a.template === "behavioural-activation");
    return ba.minutes === 20 && ba.history.some((h) => h.why === "Shorter days this week.");
  });

  // Sam answers a PHQ-9 with item 9 above 0 on the laptop; Dr Park's page shows it to review.
  const items = Array.from({ length: 9 }, (_, i) => ["--set", `item_${i + 1}=${i === 8 ? 1 : 2}`]).flat();
  await practice.between("laptop", ["entry", "new", "--template", "phq-9", ...items]);
  await practice.between("laptop", ["sync"]);
  await until("the risk flag on the therapist's page", async () => {
    await dr.reload();
    return (await dr.getByRole("button", { name: "Mark as reviewed" }).count()) > 0;
  }, 30000);
  await screenshot(dr, "therapist-risk");
  await dr.getByLabel("What you did (optional)").fill("Called Sam; safety plan reviewed.");
  await dr.getByRole("button", { name: "Mark as reviewed" }).click();
  await dr.getByText("Marked as reviewed.").waitFor();
  const caseload = await practice.json("dr", ["clients"]);
  assert.deepEqual(caseload[0].risk, [], "no open flag left");
});

test("the rest of the daily loop: effort, resolving a thread, a goal achieved, pause and reminders, an invite, crisis resources", async () => {
  // Sam says how hard the thought record was and what got in the way.
  await practice.between("laptop", ["entry", "new", "--draft", "--template", "thought-record", "--set", "situation=Stuck in traffic."]);
  const list = await practice.json("laptop", ["list"]);
  const [entry] = Object.entries(list.entries).find(([, e]) => e.template === "thought-record");
  await sam.goto(`${samApp.base}/#/entry/${entry}`);
  await sam.getByLabel(/How hard was it/).fill("7");
  await sam.getByLabel(/How hard was it/).press("Tab");
  await sam.getByLabel("Time").check();
  await until("effort stored", async () => {
    const e = (await practice.json("laptop", ["list"])).entries[entry];
    if (e.difficulty === 7 && e.obstacles.time === true) return true;
    throw new Error(`difficulty ${e.difficulty}, obstacles ${JSON.stringify(e.obstacles)}; page says ${await sam.locator("#e-difficulty").textContent()}`);
  });
  await sam.getByLabel(/How hard was it/).fill("11");
  await sam.getByLabel(/How hard was it/).press("Tab");
  await until("11 refused beside the question", async () => /from 0 to 10|at most 10|out of range/i.test(await sam.locator("#e-difficulty").textContent()));
  assert.equal((await practice.json("laptop", ["list"])).entries[entry].difficulty, 7);

  // A comment thread resolved.
  await practice.between("laptop", ["comment", "add", `${entry}:situation`, "Was this the same as last week?"]);
  await sam.reload();
  await sam.getByRole("button", { name: "Mark as resolved" }).click();
  await until("the thread resolved", async () => Object.values((await practice.json("laptop", ["list"])).comments).some((c) => c.resolved));

  // The goal achieved.
  await sam.goto(`${samApp.base}/#/plan`);
  await sam.getByLabel("Where it stands:").selectOption("achieved");
  await until("the goal achieved", async () => Object.values((await practice.json("laptop", ["list"])).goals)[0].status === "achieved");

  // Dr Park pauses the mood check-in with a reason and sets a reminder time for it.
  await dr.goto(`${drApp.base}/#/d/${doc}`);
  const mood = dr.locator("details", { hasText: "Adjust Mood check-in" });
  await mood.locator("summary").click();
  await mood.getByLabel(/Remind the client at/).fill("19:30");
  await dr.getByText("Reminds at 19:30.").waitFor();
  await mood.getByLabel("Why (the client sees it)").fill("A break over the holidays.");
  await mood.getByRole("button", { name: "Pause" }).click();
  await dr.getByText("Pause: done.").waitFor();
  await until("paused, with the reminder, on the therapist's device", async () => {
    const a = Object.values((await practice.json("dr", ["-c", "Sam", "list"])).assignments).find((x) => x.template === "mood-check-in");
    return a.status === "paused" && a.remind_at === "19:30";
  });

  // Crisis resources for every client, seen on Sam's device.
  await dr.goto(`${drApp.base}/#/`);
  await dr.getByText("Your practice's crisis resources").click();
  await dr.getByLabel(/What a client sees/).fill("Riverside Practice: call 555-0100, 9 to 5. At any hour: 988.");
  await dr.getByRole("button", { name: "Save for every client" }).click();
  await dr.getByText("Saved in the homework of 1 client.").waitFor();
  await until("Sam's help-now to show the practice's text", async () => {
    await practice.between("laptop", ["sync"]);
    return (await practice.between("laptop", ["help-now"])).includes("Riverside Practice: call 555-0100");
  }, 30000);

  // An invite made in the page lets a new client join with the CLI.
  await dr.getByText("Invite a new client").click();
  await dr.getByRole("button", { name: "Make an invite" }).click();
  const invite = (await dr.locator("code").first().textContent()).trim();
  assert.match(invite, /^wss:\/\/127\.0\.0\.1:\d+#/);
  await practice.between("alex", ["init", "--invite", invite, "--name", "Alex", "--device-name", "phone", "--ca-file", process.env.BETWEEN_CA_FILE]);
  // Alex's homework arrives in the running app when Dr Park looks for new clients.
  await dr.getByRole("button", { name: "Look for new clients" }).click();
  await dr.getByText("Up to date: 2 clients.").waitFor({ timeout: 30000 });
  // Named once its content is in (a moment after it arrives).
  await dr.getByRole("link", { name: "Alex" }).click();
  await dr.getByRole("heading", { name: "Alex", exact: true }).waitFor();
  await dr.getByRole("link", { name: "Assign homework" }).click();
  await dr.locator("#a-every").fill("daily");
  await dr.getByRole("button", { name: "Assign" }).click();
  await dr.getByText("Assigned.").waitFor();
  await until("Alex's first homework on Alex's phone", async () => {
    await practice.between("alex", ["sync"]);
    return Object.keys((await practice.json("alex", ["list"])).assignments).length === 1;
  }, 30000);
  // And Sam's page, in the same app, still works after the profile opened again.
  await dr.goto(`${drApp.base}/#/d/${doc}`);
  await dr.getByRole("heading", { name: "Sam", exact: true }).waitFor();
});

test("comments on an assignment, answered by the client; the week at a glance", async () => {
  await dr.goto(`${drApp.base}/#/d/${doc}/plan`);
  const item = dr.locator("li", { hasText: "CBT thought record" }).first();
  await item.locator("summary", { hasText: "Comment on this" }).click();
  await item.locator("textarea").fill("Try it after the commute too.");
  await item.getByRole("button", { name: "Send" }).click();
  await dr.getByText("Comment sent.").waitFor();
  await sam.goto(`${samApp.base}/#/plan`);
  const mine = sam.locator("li", { hasText: "CBT thought record" }).first();
  await mine.getByText("Try it after the commute too.").waitFor({ timeout: 20000 });
  await mine.locator("summary", { hasText: "Reply" }).click();
  await mine.locator("textarea").fill("I will.");
  await mine.getByRole("button", { name: "Send reply" }).click();
  await until("the reply on the therapist's device", async () => {
    await practice.between("dr", ["sync"]).catch(() => {});
    return Object.values((await practice.json("dr", ["-c", "Sam", "list"])).comments).some((c) => c.text === "I will." && c.reply_to);
  }, 30000);
  await sam.goto(`${samApp.base}/#/week`);
  await sam.getByRole("heading", { name: "This week", exact: true }).waitFor();
  // The behavioural activation set "3/week" earlier: any day will do, under its own heading.
  await sam.getByRole("heading", { name: "Any day this week" }).waitFor();
  assert.ok(await sam.getByRole("link", { name: "Back to today" }).isVisible());
});

test("the therapist makes a worksheet of their own, assigns it, and the client fills it in", async () => {
  await dr.goto(`${drApp.base}/#/d/${doc}/assign`);
  await dr.getByText("Make your own worksheet").click();
  await dr.getByLabel("Its name").fill("Urge surfing log");
  await dr.getByLabel("What it is for").fill("Notice an urge and ride it out.");
  await dr.getByRole("button", { name: "Add a question" }).click();
  await dr.locator("#q-1-label").fill("How strong was the urge?");
  await dr.locator("#q-1-kind").selectOption("scale");
  await dr.locator("#q-1-min").fill("0");
  await dr.locator("#q-1-max").fill("10");
  await dr.locator("#q-1-required").check();
  await dr.getByRole("button", { name: "Add a question" }).click();
  await dr.locator("#q-2-label").fill("What helped?");
  await dr.locator("#q-2-kind").selectOption("checklist");
  await dr.locator("#q-2-options").fill("Breathing\nA walk\nCalling a friend");
  await dr.getByRole("button", { name: "Save the worksheet" }).click();
  await dr.getByText("Worksheet saved").waitFor();
  // A worksheet with a name taken or no questions is refused, beside the form.
  await dr.getByRole("button", { name: "Save the worksheet" }).click();
  await dr.locator(".card .error").filter({ hasText: /already exists|question|field/i }).first().waitFor();

  await dr.getByLabel("Worksheet", { exact: true }).selectOption({ label: "Urge surfing log" });
  await dr.locator("#a-every").fill("daily");
  await dr.getByRole("button", { name: "Assign" }).click();
  await dr.getByText("Assigned.").waitFor();

  await until("the worksheet on Sam's page", async () => {
    await sam.goto(`${samApp.base}/#/`);
    await sam.getByRole("heading", { name: "Your homework" }).waitFor();
    return (await sam.getByRole("link", { name: "Start Urge surfing log" }).count()) > 0;
  }, 30000);
  await sam.getByRole("link", { name: "Start Urge surfing log" }).click();
  await sam.getByRole("button", { name: "Start writing" }).click();
  const urge = sam.getByLabel("How strong was the urge?", { exact: true });
  await urge.fill("6");
  await urge.press("Tab");
  await sam.getByLabel("A walk").check();
  await sam.locator("#saved").filter({ hasText: "Saved." }).waitFor();
  await sam.getByRole("button", { name: "Finish" }).click();
  await sam.getByText(/Finished/).first().waitFor();
  const list = await practice.json("laptop", ["list"]);
  const entry = Object.values(list.entries).find((e) => e.values.how_strong_was_the);
  assert.equal(entry.status, "complete");
  assert.deepEqual(entry.values.how_strong_was_the, { type: "number", value: 6 });
  assert.deepEqual(entry.values.what_helped, { type: "checks", value: { "A walk": true } });
});
