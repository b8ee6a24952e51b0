// Between's app: draws each view from the local JSON API (docs/app-api.md) and redraws when
// /api/events says something changed, without losing what the person is typing.
// No framework and no build step: the server sends this file as it is written here.
"use strict";

// `shown` keeps what the person asked for and is reading (an invite, a pairing code, the
// relay's record), so a redraw for another device's change does not take it away.
const state = { session: null, doc: null, view: null, pending: 0, shown: {} };

// ---- small helpers --------------------------------------------------------------------

/** Makes an element; text is always set as text, never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function main() { return document.getElementById("main"); }

function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.textContent = ""; }, 4000);
}

class ApiError extends Error {
  constructor(message, field, status) { super(message); this.field = field; this.status = status; }
}

async function api(path, body) {
  const options = { headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["content-type"] = "application/json";
    options.headers["x-csrf-token"] = state.session ? state.session.csrf : "";
    options.body = JSON.stringify(body);
    state.pending += 1;
    showSaving();
  }
  try {
    const response = await fetch(path, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(data.error || response.statusText, data.field, response.status);
    return data;
  } finally {
    if (body !== undefined) { state.pending -= 1; showSaving(); }
  }
}

function docPath(rest) { return `/api/docs/${encodeURIComponent(state.doc)}${rest}`; }

function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

const PLURALS = { entry: "entries", "new entry": "new entries" };
function plural(n, word) { return `${n} ${n === 1 ? word : (PLURALS[word] || `${word}s`)}`; }

// ---- sync indicator -------------------------------------------------------------------

const sync = { state: "connecting", detail: "", waiting: 0, last: null };

function showSaving() { drawSync(); }

function drawSync() {
  const el = document.getElementById("sync");
  if (!el) return;
  let text;
  if (sync.state === "online") text = "Online";
  else if (sync.state === "offline") text = "Offline — your changes are kept here";
  else text = "Connecting…";
  if (state.pending > 0) text += " · saving";
  else if (sync.waiting > 0) text += ` · ${plural(sync.waiting, "change")} waiting to send`;
  else if (sync.state === "online") text += " · all sent";
  if (sync.last && sync.state !== "online") text += ` · last synced ${when(sync.last)}`;
  el.textContent = text;
  el.title = sync.detail || "";
  el.className = "sync " + sync.state;
}

async function refreshStatus() {
  try {
    const status = await api("/api/status");
    Object.assign(sync, {
      state: status.sync.state, detail: status.sync.detail, waiting: status.waiting,
      last: status.sync.last_online_ms ? new Date(status.sync.last_online_ms).toISOString() : null,
    });
  } catch (_) { /* the indicator keeps its last word */ }
  drawSync();
}

function listen() {
  const source = new EventSource("/api/events");
  source.onmessage = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    if (event.type === "changed") { scheduleRedraw(); refreshStatusSoon(); }
    else if (event.type === "sync") {
      sync.state = event.state; sync.detail = event.detail;
      if (event.last_online_ms) sync.last = new Date(event.last_online_ms).toISOString();
      drawSync(); refreshStatusSoon();
    } else if (event.type === "notice") toast(event.text);
  };
}

let statusTimer = null;
function refreshStatusSoon() {
  clearTimeout(statusTimer);
  statusTimer = setTimeout(refreshStatus, 400);
}

let redrawTimer = null;
function scheduleRedraw() {
  clearTimeout(redrawTimer);
  redrawTimer = setTimeout(() => { if (state.view && state.view.update) state.view.update(); }, 150);
}

// ---- navigation ------------------------------------------------------------------------

function navItems() {
  if (!state.session) return [];
  if (state.session.me.role === "therapist") return [["#/", "Clients"], ["#/privacy", "Privacy"]];
  return [["#/", "Today"], ["#/entries", "Entries"], ["#/plan", "Goals"], ["#/progress", "Progress"], ["#/privacy", "Privacy"], ["#/help", "Help now"]];
}

function drawNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...navItems().map(([href, label]) => {
    const current = location.hash === href || (href === "#/" && (location.hash === "" || location.hash === "#"));
    return h("li", {}, h("a", { href, "aria-current": current ? "page" : null, text: label }));
  }));
}

async function route() {
  state.shown = {};
  drawNav();
  const parts = (location.hash.replace(/^#\/?/, "") || "").split("/").filter(Boolean).map(decodeURIComponent);
  const therapist = state.session.me.role === "therapist";
  // A therapist's pages name the client's document; a client has one.
  if (parts[0] === "d" && parts[1]) { state.doc = parts[1]; parts.splice(0, 2); }
  else if (!therapist) state.doc = (state.session.documents[0] || {}).id;
  let view;
  if (parts[0] === "privacy") view = privacyView();
  else if (parts[0] === "help") view = helpView();
  else if (therapist && parts.length === 0 && !location.hash.startsWith("#/d/")) view = caseloadView();
  else if (!state.doc) view = emptyView();
  else if (parts.length === 0) view = therapist ? clientView() : todayView(false);
  else if (parts[0] === "week" && !therapist) view = todayView(true);
  else if (parts[0] === "entries") view = entriesView();
  else if (parts[0] === "entry" && parts[1]) view = entryView(parts[1]);
  else if (parts[0] === "new" && parts[1]) view = newEntryView(parts[1], parts[2]);
  else if (parts[0] === "plan") view = planView();
  else if (parts[0] === "progress") view = progressView();
  else if (parts[0] === "assign") view = assignView();
  else view = { title: "Not found", draw: () => [h("h1", { text: "There is nothing here" }), h("p", {}, h("a", { href: "#/", text: "Back to the start" }))] };
  state.view = view;
  await drawView(view, true);
}

/** What the person is in the middle of on the page: open sections, words typed into forms,
 *  choices made in lists, boxes and buttons (a worksheet chosen, "Only me"), where the focus is.
 *  A redraw for another device's change puts it back: a change arriving must never undo a
 *  choice, least of all who an entry is for. */
function interaction() {
  const typed = {};
  const checked = {};
  for (const el of main().querySelectorAll("input[id], textarea[id], select[id]")) {
    if (el.tagName === "SELECT") {
      const preset = Math.max([...el.options].findIndex((option) => option.defaultSelected), 0);
      if (el.selectedIndex !== preset) typed[el.id] = el.value;
    } else if (el.type === "checkbox" || el.type === "radio") {
      if (el.checked !== el.defaultChecked) checked[el.id] = el.checked;
    } else {
      const texty = el.tagName === "TEXTAREA" || ["text", "number", "time", "date", "datetime-local"].includes(el.type);
      if (texty && el.value !== el.defaultValue) typed[el.id] = el.value;
    }
  }
  const open = [...main().querySelectorAll("details[open] > summary")].map((s) => s.textContent);
  const active = document.activeElement && main().contains(document.activeElement) ? document.activeElement : null;
  return { typed, checked, open, focus: active && active.id, caret: active && typeof active.selectionStart === "number" ? active.selectionStart : null };
}

function restore(was) {
  for (const summary of main().querySelectorAll("details > summary")) {
    if (was.open.includes(summary.textContent)) summary.parentElement.open = true;
  }
  for (const [id, value] of Object.entries(was.typed)) {
    const el = document.getElementById(id);
    if (el) el.value = value;
  }
  for (const [id, on] of Object.entries(was.checked)) {
    const el = document.getElementById(id);
    if (el) el.checked = on;
  }
  const again = was.focus && document.getElementById(was.focus);
  if (again) {
    again.focus();
    if (was.caret !== null && again.setSelectionRange) { try { again.setSelectionRange(was.caret, was.caret); } catch (_) { /* not a text field */ } }
  }
}

async function drawView(view, focus) {
  try {
    const nodes = await view.draw();
    if (state.view !== view) return;
    const was = focus ? null : interaction();
    main().replaceChildren(...nodes);
    if (was) restore(was);
    document.title = `${view.title} — Between`;
    if (focus) main().focus();
  } catch (err) {
    main().replaceChildren(h("h1", { text: "Something went wrong" }), h("p", { role: "alert", text: err.message }),
      h("p", {}, h("a", { href: "#/", text: "Back to the start" })));
  }
  if (!view.update) view.update = () => drawView(view, false);
}

function emptyView() {
  return { title: "Welcome", draw: () => [h("h1", { text: "Your homework has not arrived yet" }),
    h("p", { text: "It arrives with the next sync. Keep this page open; it fills in by itself." })] };
}

// ---- client: today ----------------------------------------------------------------------

function stateText(item) {
  switch (item.state) {
    case "done": return item.done_on ? `Done (on ${item.done_on})` : "Done";
    case "in-progress": return "Started — you can carry on";
    case "overdue": return "Still open";
    case "due": return item.week ? `${item.week.done} of ${item.week.of} this week` : "For today";
    default: return "";
  }
}

function dayName(day) {
  const d = new Date(`${day}T12:00:00`);
  return isNaN(d) ? day : d.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" });
}

function todayView(week) {
  return {
    title: week ? "This week" : "Today",
    draw: async () => {
      const t = await api(docPath(week ? "/today?week=true" : "/today"));
      const nodes = [h("h1", { text: week ? "This week" : `Today, ${t.weekday}` }),
        h("p", {}, h("a", { href: week ? "#/" : "#/week", text: week ? "Back to today" : "See the whole week" }))];
      if (t.news.length) {
        nodes.push(h("section", { class: "card", "aria-labelledby": "news-h" },
          h("h2", { id: "news-h", text: "From your therapist" }),
          h("ul", {}, t.news.map((n) => h("li", { text: n })))));
      }
      if (!week) nodes.push(moodCard(t));
      nodes.push(h("h2", { text: "Your homework" }));
      if (!t.items.length) nodes.push(h("p", { class: "quiet", text: week ? "Nothing is due this week." : "Nothing is due today. You can still write something under Entries." }));
      // In the week, "N times a week" homework first (any day will do), then day by day.
      const anyDay = week ? t.items.filter((item) => item.week) : [];
      if (anyDay.length) nodes.push(h("h3", { text: "Any day this week" }), ...anyDay.map(homeworkCard));
      let shownDay = null;
      for (const item of t.items.filter((i) => !anyDay.includes(i))) {
        if (week && item.day !== shownDay) { shownDay = item.day; nodes.push(h("h3", { text: dayName(item.day) })); }
        nodes.push(homeworkCard(item));
      }
      if (t.not_done.length) {
        nodes.push(h("section", { class: "card", "aria-label": "Earlier days" },
          h("p", { text: "Some days went by without these — that happens. Today is a fine day to pick them up again." }),
          h("ul", {}, t.not_done.map((n) => h("li", { text: `${n.title}: ${n.days.join(", ")}` })))));
      }
      const streak = t.streak > 0 ? `You have written something ${plural(t.streak, "day")} in a row.` : "";
      nodes.push(h("p", { class: "quiet", text: `${streak} ${plural(t.entries_this_week, "entry")} finished this week.`.trim() }));
      return nodes;
    },
  };
}

function moodCard(t) {
  const status = h("p", { class: "saved", role: "status", "aria-live": "polite" });
  const buttons = [];
  for (let i = 0; i <= 10; i++) {
    buttons.push(h("button", {
      type: "button", "aria-label": `Mood ${i} of 10`, text: String(i),
      onclick: async () => {
        buttons.forEach((b) => { b.disabled = true; });
        try {
          await api(docPath("/mood"), { mood: i });
          status.textContent = `Saved: mood ${i} of 10. Thank you for checking in.`;
        } catch (err) { status.textContent = err.message; }
        buttons.forEach((b) => { b.disabled = false; });
      },
    }));
  }
  return h("section", { class: "card", "aria-labelledby": "mood-h" },
    h("h2", { id: "mood-h", text: "How is your mood right now?" }),
    h("p", { class: "help", text: "One tap: 0 is the worst you can feel, 10 the best." }),
    h("div", { class: "mood", role: "group", "aria-labelledby": "mood-h" }, buttons),
    h("div", { class: "scale-ends", "aria-hidden": "true" }, h("span", { text: "worst" }), h("span", { text: "best" })),
    status,
    t.mood !== null && t.mood !== undefined ? h("p", { class: "quiet", text: `Your latest check-in: ${Math.round(t.mood * 10) / 10} of 10.` }) : null);
}

function homeworkCard(item) {
  const a = item.assignment;
  const done = item.state === "done";
  const action = item.draft
    ? h("a", { class: "button", href: `#/entry/${encodeURIComponent(item.draft)}`, text: `Continue ${a.title}` })
    : h("a", { class: done ? "button secondary" : "button", href: `#/new/${encodeURIComponent(a.id)}/${item.day}`, text: done ? `Do ${a.title} again` : `Start ${a.title}` });
  return h("article", { class: "card" },
    h("h3", { text: a.title }),
    h("p", { class: done ? "state done" : "state", text: stateText(item) }),
    a.instructions ? h("p", { class: "instructions", text: a.instructions }) : null,
    a.minutes || a.focus ? h("p", { class: "quiet", text: [a.minutes ? `About ${a.minutes} minutes.` : "", a.focus ? `Focus: ${a.focus}` : ""].join(" ").trim() }) : null,
    action);
}

// ---- entries ----------------------------------------------------------------------------

function entryHref(id) {
  const prefix = state.session.me.role === "therapist" ? `#/d/${encodeURIComponent(state.doc)}` : "#";
  return `${prefix}/entry/${encodeURIComponent(id)}`;
}

function entryList(entries) {
  if (!entries.length) return h("p", { class: "quiet", text: "No entries yet." });
  return h("ul", { class: "list" }, entries.map((e) => h("li", {},
    h("a", { href: entryHref(e.id), text: e.title }), " ",
    h("span", { class: "quiet", text: e.date }),
    e.status === "draft" ? h("span", { class: "tag", text: "draft" }) : null,
    e.private ? h("span", { class: "tag private", text: "only you" }) : null,
    e.comments ? h("span", { class: "tag", text: plural(e.comments, "comment") }) : null)));
}

function entriesView() {
  return {
    title: "Entries",
    draw: async () => {
      const [entries, templates] = await Promise.all([api(docPath("/entries")), api(docPath("/templates"))]);
      const select = h("select", { id: "free-template" }, templates.map((t) => h("option", { value: t.id, text: t.name })));
      return [
        h("h1", { text: "Entries" }),
        h("section", { class: "card" },
          h("label", { for: "free-template", text: "Write something new" }),
          h("div", { class: "row" }, select,
            h("button", { type: "button", text: "Start", onclick: () => { location.hash = `#/new/template:${encodeURIComponent(select.value)}`; } }))),
        entryList(entries),
      ];
    },
  };
}

function newEntryView(what, day) {
  return {
    title: "New entry",
    draw: async () => {
      const [plan, templates] = await Promise.all([api(docPath("/plan")), api(docPath("/templates"))]);
      const byTemplate = what.startsWith("template:");
      const assignment = byTemplate ? null : plan.assignments.find((a) => a.id === what);
      const template = templates.find((t) => t.id === (byTemplate ? what.slice(9) : assignment && assignment.template));
      if (!template) throw new Error("That homework is not in this profile any more.");
      const error = h("p", { class: "error", role: "alert" });
      const client = state.session.me.role === "client";
      const shared = h("input", { type: "radio", name: "who", id: "who-shared", value: "shared", checked: true });
      const mine = h("input", { type: "radio", name: "who", id: "who-private", value: "private" });
      const start = async () => {
        try {
          const body = byTemplate ? { template: template.id } : { assignment: assignment.id };
          if (day) body.date = day;
          body.private = client && mine.checked;
          const made = await api(docPath("/entries"), body);
          location.hash = entryHref(made.id);
        } catch (err) { error.textContent = err.message; }
      };
      return [
        h("h1", { text: assignment ? assignment.title : template.name }),
        assignment ? h("section", { class: "card", "aria-label": "Instructions" },
          h("p", { class: "quiet", text: `From ${assignment.set_by}` }),
          h("p", { class: "instructions", text: assignment.instructions || template.description }),
          assignment.minutes ? h("p", { text: `About ${assignment.minutes} minutes.` }) : null,
          assignment.focus ? h("p", { text: `Focus: ${assignment.focus}` }) : null)
          : h("p", { text: template.description }),
        client ? h("fieldset", { class: "field" },
          h("legend", { text: "Who sees this entry?" }),
          h("label", { class: "choice", for: "who-shared" }, shared, h("span", {}, "Shared with your therapist", h("small", { text: "They can read it and comment." }))),
          h("label", { class: "choice", for: "who-private" }, mine, h("span", {}, "Only me", h("small", { text: "It stays on your own devices. You can share it later." })))) : null,
        h("button", { type: "button", text: "Start writing", onclick: start }),
        error,
      ];
    },
  };
}

// ---- the entry form ---------------------------------------------------------------------

/** One control per field kind; each knows how to read, write and show a value. */
function fieldControl(entry, field, onValue) {
  const kind = field.kind;
  const id = `f-${field.id}`;
  const value = entry.values[field.id];
  const v = value ? value.value : undefined;
  const send = (typed) => onValue(field.id, typed);
  switch (kind.type) {
    case "short-text": {
      const input = h("input", { type: "text", id, value: v || "", autocomplete: "off" });
      let timer;
      input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => send(input.value ? { type: "text", value: input.value } : null), 500); });
      return { node: input, set: (val) => { if (document.activeElement !== input) input.value = val ? val.value : ""; }, labelled: true };
    }
    case "long-text": return longText(entry, field, id, v || "");
    case "scale": {
      if (field.answer_labels) {
        const radios = field.answer_labels.map((label, i) => {
          const n = kind.min + i;
          const input = h("input", { type: "radio", name: id, id: `${id}-${n}`, value: String(n), checked: v === n });
          input.addEventListener("change", () => send({ type: "number", value: n }));
          return h("label", { class: "choice", for: `${id}-${n}` }, input, h("span", { text: `${label} (${n})` }));
        });
        return { node: h("div", {}, radios), group: true,
          set: (val) => radios.forEach((r) => { const input = r.querySelector("input"); input.checked = val && Number(input.value) === val.value; }) };
      }
      // A slider for a quick answer and a number box for an exact one (and for keyboards
      // and screen readers); the box takes any number, and the server says if it is out of range.
      const middle = Math.round((kind.min + kind.max) / 2);
      const slider = h("input", { type: "range", id: `${id}-slider`, min: kind.min, max: kind.max, step: 1, value: v ?? middle, "aria-label": `${field.label} (slider)` });
      const box = h("input", { type: "number", id, min: kind.min, max: kind.max, step: 1, inputmode: "numeric", value: v ?? "" });
      const wrap = h("div", { class: v === undefined ? "slider unset" : "slider" }, slider, box);
      slider.addEventListener("input", () => { box.value = slider.value; wrap.className = "slider"; });
      slider.addEventListener("change", () => send({ type: "number", value: Number(slider.value) }));
      box.addEventListener("change", () => {
        if (box.value === "") { send(null); return; }
        const n = Number(box.value);
        if (n >= kind.min && n <= kind.max) slider.value = String(n);
        send({ type: "number", value: Math.round(n) });
      });
      return { node: h("div", {}, wrap, h("div", { class: "scale-ends", "aria-hidden": "true" }, h("span", { text: String(kind.min) }), h("span", { text: String(kind.max) }))), labelled: true,
        set: (val) => { if (wrap.contains(document.activeElement)) return; slider.value = val ? val.value : middle; box.value = val ? String(val.value) : ""; wrap.className = val ? "slider" : "slider unset"; } };
    }
    case "yes-no": {
      const yes = h("input", { type: "radio", name: id, id: `${id}-yes`, checked: v === true });
      const no = h("input", { type: "radio", name: id, id: `${id}-no`, checked: v === false });
      yes.addEventListener("change", () => send({ type: "yes-no", value: true }));
      no.addEventListener("change", () => send({ type: "yes-no", value: false }));
      return { group: true, node: h("div", { class: "row" },
        h("label", { class: "choice", for: `${id}-yes` }, yes, "Yes"), h("label", { class: "choice", for: `${id}-no` }, no, "No")),
        set: (val) => { yes.checked = !!val && val.value === true; no.checked = !!val && val.value === false; } };
    }
    case "date-time": {
      const input = h("input", { type: "datetime-local", id, value: v ? v.replace(" ", "T") : "" });
      input.addEventListener("change", () => send(input.value ? { type: "date-time", value: input.value.replace("T", " ").slice(0, 16) } : null));
      return { node: input, labelled: true, set: (val) => { if (document.activeElement !== input) input.value = val ? val.value.replace(" ", "T") : ""; } };
    }
    case "single-choice": {
      const radios = kind.options.map((option, i) => {
        const input = h("input", { type: "radio", name: id, id: `${id}-${i}`, checked: v === option });
        input.addEventListener("change", () => send({ type: "choice", value: option }));
        return [option, input, h("label", { class: "choice", for: `${id}-${i}` }, input, option)];
      });
      return { group: true, node: h("div", {}, radios.map((r) => r[2])), set: (val) => radios.forEach(([o, input]) => { input.checked = !!val && val.value === o; }) };
    }
    case "multi-choice":
    case "checklist": {
      const options = kind.type === "checklist" ? kind.items : kind.options;
      const type = kind.type === "checklist" ? "checks" : "choices";
      const boxes = options.map((option, i) => {
        const input = h("input", { type: "checkbox", id: `${id}-${i}`, checked: !!(v && v[option]) });
        const explain = field.options_help && field.options_help[option];
        const label = h("label", { class: "choice", for: `${id}-${i}` }, input,
          h("span", {}, explain ? explain.label : option, explain ? h("small", { text: explain.explanation }) : null));
        return [option, input, label];
      });
      const read = () => Object.fromEntries(boxes.filter(([, input]) => input.checked).map(([o]) => [o, true]));
      boxes.forEach(([, input]) => input.addEventListener("change", () => { const chosen = read(); send(Object.keys(chosen).length ? { type, value: chosen } : null); }));
      return { group: true, node: h("div", {}, boxes.map((b) => b[2])), set: (val) => boxes.forEach(([o, input]) => { input.checked = !!(val && val.value[o]); }) };
    }
    case "rated-items": return ratedItems(field, id, v || {}, send);
    case "thoughts": return thoughts(field, id, v || [], send);
    default: return { node: h("p", { class: "quiet", text: "This answer can be given from the command line." }), set: () => {} };
  }
}

function ratedItems(field, id, initial, send) {
  const kind = field.kind;
  let ratings = { ...initial };
  const list = h("div", {});
  // The ones felt get a slider each; the rest are a compact list of words to tick.
  const draw = () => {
    const names = [...new Set([...kind.vocabulary, ...Object.keys(ratings)])];
    const rows = [];
    const chips = [];
    names.forEach((name, i) => {
      const on = ratings[name] !== undefined;
      const box = h("input", { type: "checkbox", id: `${id}-${i}`, checked: on });
      box.addEventListener("change", () => {
        if (box.checked) ratings[name] = Math.round((kind.min + kind.max) / 2); else delete ratings[name];
        draw();
        const again = document.getElementById(box.checked ? `${id}-${i}-r` : `${id}-${i}`);
        if (again) again.focus();
        send(Object.keys(ratings).length ? { type: "ratings", value: ratings } : null);
      });
      const label = h("label", { class: "choice", for: `${id}-${i}` }, box, name);
      if (!on) { chips.push(label); return; }
      const slider = h("input", { type: "range", min: kind.min, max: kind.max, step: 1, value: ratings[name], id: `${id}-${i}-r`, "aria-label": `How strong: ${name}` });
      const out = h("output", { for: `${id}-${i}-r`, text: String(ratings[name]) });
      slider.addEventListener("input", () => { out.textContent = slider.value; });
      slider.addEventListener("change", () => { ratings[name] = Number(slider.value); send({ type: "ratings", value: ratings }); });
      rows.push(h("div", { class: "rated" }, label, h("div", { class: "slider" }, slider, out)));
    });
    list.replaceChildren(...rows, chips.length ? h("div", { class: "chips" }, chips) : "");
  };
  draw();
  const own = h("input", { type: "text", id: `${id}-own`, placeholder: "Another word" });
  const add = h("button", { type: "button", class: "secondary", text: "Add", onclick: () => {
    const name = own.value.trim();
    if (!name) return;
    ratings[name] = Math.round((kind.min + kind.max) / 2);
    own.value = ""; draw(); send({ type: "ratings", value: ratings });
  } });
  const extra = kind.open || !kind.vocabulary.length
    ? h("div", { class: "row" }, h("label", { for: `${id}-own`, class: "quiet", text: "Your own word:" }), own, add) : null;
  return { group: true, node: h("div", {}, list, extra),
    set: (val) => { if (list.contains(document.activeElement)) return; ratings = { ...(val ? val.value : {}) }; draw(); } };
}

function thoughts(field, id, initial, send) {
  const kind = field.kind;
  let items = initial.map((t) => ({ ...t }));
  const list = h("div", {});
  const push = () => send(items.length ? { type: "thoughts", value: items } : null);
  const draw = () => {
    list.replaceChildren(...items.map((t, i) => {
      const text = h("input", { type: "text", id: `${id}-${i}`, value: t.text });
      const belief = h("input", { type: "range", min: kind.min, max: kind.max, step: 1, id: `${id}-${i}-b`, value: t.belief ?? kind.max });
      const out = h("output", { for: `${id}-${i}-b`, text: t.belief === null || t.belief === undefined ? "not set" : String(t.belief) });
      const hot = h("input", { type: "radio", name: `${id}-hot`, id: `${id}-${i}-hot`, checked: t.hot });
      let timer;
      text.addEventListener("input", () => { t.text = text.value; clearTimeout(timer); timer = setTimeout(push, 500); });
      belief.addEventListener("input", () => { out.textContent = belief.value; });
      belief.addEventListener("change", () => { t.belief = Number(belief.value); push(); });
      hot.addEventListener("change", () => { items.forEach((other) => { other.hot = other === t; }); push(); });
      const remove = h("button", { type: "button", class: "secondary", text: "Remove", onclick: () => { items = items.filter((x) => x !== t); draw(); push(); } });
      return h("div", { class: "thought" },
        h("label", { for: `${id}-${i}`, text: `Thought ${i + 1}` }), text,
        h("label", { for: `${id}-${i}-b`, text: "How much do you believe it?" }), h("div", { class: "slider" }, belief, out),
        h("div", { class: "row" }, h("label", { class: "choice", for: `${id}-${i}-hot` }, hot, "This is the hot thought"), remove));
    }));
  };
  draw();
  const add = h("button", { type: "button", class: "secondary", text: "Add a thought", onclick: () => {
    items.push({ id: (crypto.randomUUID ? crypto.randomUUID() : String(Date.now())), text: "", belief: null, hot: items.length === 0 });
    draw();
    const inputs = list.querySelectorAll('input[type="text"]');
    if (inputs.length) inputs[inputs.length - 1].focus();
  } });
  return { group: true, node: h("div", {}, list, add),
    set: (val) => { if (list.contains(document.activeElement)) return; items = (val ? val.value : []).map((t) => ({ ...t })); draw(); } };
}

/** The one region where `before` and `after` differ, in code points: `before[start..end)` was
 *  replaced by `insert`. */
function difference(before, after) {
  const a = Array.from(before), b = Array.from(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length, endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  return { start, end: endA, insert: b.slice(start, endB).join("") };
}

/** `mine` (typed here since `base`) carried over onto `theirs` (what the server holds now,
 *  which started from `base` too): the person's typing is kept beside the other device's. */
function rebase(base, theirs, mine) {
  const local = difference(base, mine);
  if (local.start === local.end && local.insert === "") return theirs;
  const remote = difference(base, theirs);
  const t = Array.from(theirs);
  const shift = Array.from(remote.insert).length - (remote.end - remote.start);
  let at, until;
  if (local.end <= remote.start) { at = local.start; until = local.end; }
  else if (local.start >= remote.end) { at = local.start + shift; until = local.end + shift; }
  else { at = remote.start + Array.from(remote.insert).length; until = at; }
  return t.slice(0, at).join("") + local.insert + t.slice(until).join("");
}

/** A long text typed as splices: each edit sends what changed where, in the version the page
 *  last saw (`heads`), so another device's typing in the same text merges character by
 *  character. Positions count code points. */
function longText(entry, field, id, initial) {
  const area = h("textarea", { id, rows: 5 });
  area.value = initial;
  let synced = initial; // the text at `heads`
  let heads = entry.heads;
  let timer = null;
  let busy = null;
  let stale = false;
  const keepCaret = (next) => {
    const focused = document.activeElement === area;
    const caret = area.selectionStart, end = area.selectionEnd;
    // The caret counts UTF-16 units, as the text box does (not code points).
    const old = area.value;
    let at = 0;
    while (at < old.length && at < next.length && old[at] === next[at]) at++;
    let tailOld = old.length, tailNext = next.length;
    while (tailOld > at && tailNext > at && old[tailOld - 1] === next[tailNext - 1]) { tailOld--; tailNext--; }
    const change = { end: tailOld };
    const shift = next.length - old.length;
    area.value = next;
    if (focused) {
      const move = (p) => (p >= change.end ? p + shift : p);
      area.setSelectionRange(move(caret), move(end));
    }
  };
  const flush = async () => {
    clearTimeout(timer); timer = null;
    if (busy) { await busy; return flush(); }
    const sent = area.value;
    if (sent === synced) return undefined;
    const change = difference(synced, sent);
    busy = state.entryEdit({ field: field.id, base: heads, index: change.start, delete: change.end - change.start, insert: change.insert })
      .then((answer) => {
        heads = answer.heads;
        const base = sent;
        synced = answer.text;
        // Typing goes on while the answer travels; it is carried over onto the merged text.
        if (answer.text !== base || area.value !== sent) keepCaret(rebase(base, answer.text, area.value));
      })
      .catch(() => {})
      .finally(() => { busy = null; });
    await busy;
    if (area.value !== synced) timer = setTimeout(flush, 300);
    else if (stale) { stale = false; scheduleRedraw(); }
    return undefined;
  };
  area.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(flush, 300); });
  area.addEventListener("blur", () => { flush(); });
  return {
    node: area, labelled: true, flush,
    set: (val, freshHeads) => {
      if (timer || busy || area.value !== synced) { stale = true; return; }
      const server = val ? val.value : "";
      heads = freshHeads;
      if (server !== area.value) keepCaret(server);
      synced = server;
    },
  };
}

function commentBlock(entry, fieldId) {
  const comments = entry.comments.filter((c) => (c.field || null) === fieldId);
  // A private entry's notes are the client's own: no thread to start there.
  if (entry.private && !comments.length && state.session.me.role === "client") return null;
  return commentThread(comments, { entry: entry.id, field: fieldId }, `c-${fieldId || "entry"}`);
}

/** A thread of comments with a box to add one (or to reply to the last). `target` says what a
 *  new comment is about: `{entry, field}`, `{assignment}` or `{goal}`. */
function commentThread(comments, target, inputId) {
  const box = h("div", { class: "comments" });
  for (const c of comments) {
    const resolve = c.reply_to ? null : h("button", { type: "button", class: "secondary small", text: c.resolved ? "Open again" : "Mark as resolved",
      onclick: async () => { try { await api(docPath(`/comments/${encodeURIComponent(c.id)}/resolved`), { resolved: !c.resolved }); scheduleRedraw(); } catch (err) { toast(err.message); } } });
    box.append(h("div", { class: c.resolved ? "comment resolved" : "comment" },
      h("span", { class: "who", text: c.author }), " ", h("span", { class: "when", text: when(c.at) }),
      c.reply_to ? h("span", { class: "tag", text: "reply" }) : null,
      c.resolved ? h("span", { class: "tag", text: "resolved" }) : null,
      h("p", { text: c.text }), resolve));
  }
  const text = h("textarea", { id: inputId, rows: 2 });
  const error = h("p", { class: "error", role: "alert" });
  const last = comments[comments.length - 1];
  const label = last ? "Reply" : (state.session.me.role === "therapist" ? "Comment on this" : "Add a note for your therapist");
  const send = h("button", { type: "button", class: "secondary", text: last ? "Send reply" : "Send", onclick: async () => {
    error.textContent = "";
    try {
      const body = last ? { text: text.value, reply_to: last.id } : { text: text.value, ...target };
      await api(docPath("/comments"), body);
      text.value = "";
      toast("Comment sent.");
      scheduleRedraw();
    } catch (err) { error.textContent = err.message; }
  } });
  box.append(h("details", { class: "reply" }, h("summary", { text: label }), h("label", { for: inputId, class: "quiet", text: label }), text, send, error));
  return box;
}

function entryView(id) {
  const view = { title: "Entry" };
  const controls = {};
  // Per field: how many of the person's edits were started, and how many are still on their
  // way. An update read before an edit landed must not put the old answer back (a box just
  // ticked, unticked again by the redraw of a change that arrived meanwhile).
  const started = {};
  const unsaved = {};
  let current = null;
  view.draw = async () => {
    current = await api(docPath(`/entries/${encodeURIComponent(id)}`));
    const entry = current;
    view.title = entry.assignment ? entry.assignment.title : entry.template.name;
    const saved = h("p", { class: "saved", role: "status", "aria-live": "polite", id: "saved" });
    const edit = async (path, body, fieldId) => {
      const err = document.getElementById(`e-${fieldId}`);
      const control = document.getElementById(`f-${fieldId}`);
      try {
        const answer = await api(docPath(`/entries/${encodeURIComponent(id)}/${path}`), body);
        if (err) err.textContent = "";
        if (control) control.removeAttribute("aria-invalid");
        saved.textContent = "Saved.";
        return answer;
      } catch (e) {
        if (err) err.textContent = e.message; else saved.textContent = e.message;
        if (control) control.setAttribute("aria-invalid", "true");
        throw e;
      }
    };
    state.entryEdit = (splice) => edit("splice", splice, splice.field);
    const onValue = (fieldId, value) => {
      started[fieldId] = (started[fieldId] || 0) + 1;
      unsaved[fieldId] = (unsaved[fieldId] || 0) + 1;
      return edit("value", { field: fieldId, value }, fieldId).catch(() => {})
        .finally(() => { unsaved[fieldId] -= 1; });
    };
    const nodes = [h("h1", { text: view.title })];
    nodes.push(h("p", { class: "quiet" }, `${entry.date} · `, entry.status === "draft" ? "Draft — saved as you type" : "Finished",
      entry.private ? h("span", { class: "tag private", text: "only you" }) : h("span", { class: "tag", text: state.session.me.role === "client" ? "shared with your therapist" : "shared" })));
    if (entry.assignment && entry.assignment.instructions) {
      nodes.push(h("details", { class: "card" }, h("summary", { text: "Instructions" }), h("p", { class: "instructions", text: entry.assignment.instructions })));
    }
    if (entry.private && state.session.me.role === "client") {
      const shareError = h("p", { class: "error", role: "alert" });
      nodes.push(h("section", { class: "card" },
        h("p", { text: "Only you can see this entry. You can share it with your therapist, with your notes on it; it cannot be made private again once they have it." }),
        h("button", { type: "button", class: "secondary", text: "Share with my therapist", onclick: async () => {
          try { await api(docPath(`/entries/${encodeURIComponent(id)}/share`), {}); toast("Shared with your therapist."); scheduleRedraw(); }
          catch (err) { shareError.textContent = err.message; }
        } }), shareError));
    }
    if (entry.help_now) nodes.push(helpNow(entry.help_now));
    if (entry.score) nodes.push(h("p", { class: "score card", text: `Score: ${entry.score.total} of ${entry.score.max} — ${entry.score.severity}.` }));
    const therapist = state.session.me.role === "therapist";
    for (const field of entry.template.fields) {
      const control = fieldControl(entry, field, onValue);
      controls[field.id] = control;
      if (therapist) control.node.querySelectorAll && control.node.querySelectorAll("input, textarea, select, button").forEach((el) => { el.disabled = true; });
      if (therapist && control.node.matches && control.node.matches("input, textarea, select")) control.node.disabled = true;
      const error = h("p", { class: "error", id: `e-${field.id}`, role: "alert" });
      const help = field.help ? h("p", { class: "help", id: `h-${field.id}`, text: field.help }) : null;
      const title = `${field.label}${field.required ? "" : " (optional)"}`;
      let wrapper;
      if (control.group) {
        wrapper = h("fieldset", { class: "field", "aria-describedby": `e-${field.id}` }, h("legend", { text: title }), help, control.node, error);
      } else {
        const target = control.node.id === `f-${field.id}` ? control.node : control.node.querySelector(`[id="f-${field.id}"]`);
        if (target) target.setAttribute("aria-describedby", [help ? `h-${field.id}` : null, `e-${field.id}`].filter(Boolean).join(" "));
        wrapper = h("div", { class: "field" }, h("label", { for: `f-${field.id}`, text: title }), help, control.node, error);
      }
      wrapper.append(commentBlock(entry, field.id) || "");
      nodes.push(wrapper);
    }
    if (!therapist) nodes.push(effortSection(entry, id));
    nodes.push(h("section", { class: "field", "aria-label": "About the whole entry" }, h("h2", { text: "The whole entry" }), commentBlock(entry, null) || ""));
    if (!therapist && entry.status === "draft") {
      const finishError = h("p", { class: "error", role: "alert" });
      nodes.push(h("div", { class: "row" }, h("button", { type: "button", text: "Finish", onclick: async () => {
        finishError.textContent = "";
        await Promise.all(Object.values(controls).map((c) => c.flush && c.flush()));
        try {
          await api(docPath(`/entries/${encodeURIComponent(id)}/complete`), {});
          toast("Finished. Well done for doing it.");
          scheduleRedraw();
        } catch (e) {
          finishError.textContent = e.message;
          if (e.field) { const el = document.getElementById(`e-${e.field}`); if (el) el.textContent = "Please answer this to finish."; }
        }
      } }), saved, finishError));
    } else nodes.push(saved);
    return nodes;
  };
  // Another device's change (or this person's other tab): update in place, keep typing.
  view.update = async () => {
    const startedBefore = { ...started };
    let fresh;
    try { fresh = await api(docPath(`/entries/${encodeURIComponent(id)}`)); } catch (_) { return; }
    const structural = !current || fresh.status !== current.status || fresh.private !== current.private || fresh.comments.length !== current.comments.length
      || JSON.stringify(fresh.help_now) !== JSON.stringify(current.help_now)
      || fresh.comments.some((c, i) => c.resolved !== current.comments[i].resolved);
    if (structural) {
      // What is typed is saved first, so the redrawn form holds it.
      await Promise.all(Object.values(controls).map((c) => c.flush && c.flush()));
      const active = document.activeElement;
      const focused = active && active.id;
      const text = focused ? active.value : null;
      const caret = focused && typeof active.selectionStart === "number" ? active.selectionStart : null;
      await drawView(view, false);
      const again = focused && document.getElementById(focused);
      if (again) {
        if (text !== null && again.id.startsWith("c-")) { again.value = text; again.closest("details").open = true; }
        again.focus();
        if (caret !== null && again.setSelectionRange) again.setSelectionRange(caret, caret);
      }
      return;
    }
    current = fresh;
    for (const [fieldId, control] of Object.entries(controls)) {
      // The person's own edit wins until it is stored; the next update shows what was stored.
      if (unsaved[fieldId] || (started[fieldId] || 0) !== (startedBefore[fieldId] || 0)) continue;
      control.set(fresh.values[fieldId], fresh.heads);
    }
  };
  return view;
}

const OBSTACLES = { motivation: "Motivation", time: "Time", discomfort: "It felt uncomfortable", forgot: "I forgot", other: "Something else" };

/** How hard it was and what got in the way: optional, for the therapist to adjust the homework. */
function effortSection(entry, id) {
  const error = h("p", { class: "error", id: "e-difficulty", role: "alert" });
  const save = async (body) => {
    try { await api(docPath(`/entries/${encodeURIComponent(id)}/difficulty`), body); error.textContent = ""; }
    catch (err) { error.textContent = err.message; }
  };
  const box = h("input", { type: "number", id: "f-difficulty", min: 0, max: 10, step: 1, inputmode: "numeric", value: entry.difficulty ?? "" });
  box.addEventListener("change", () => { if (box.value !== "") save({ difficulty: Math.round(Number(box.value)) }); });
  const boxes = Object.entries(OBSTACLES).map(([name, label]) => {
    const input = h("input", { type: "checkbox", id: `o-${name}`, checked: entry.obstacles.includes(name) });
    input.addEventListener("change", () => save({ obstacles: boxes.filter(([, i]) => i.checked).map(([n]) => n) }));
    return [name, input, h("label", { class: "choice", for: `o-${name}` }, input, label)];
  });
  return h("section", { class: "field", "aria-labelledby": "effort-h" },
    h("h2", { id: "effort-h", text: "How did it go? (optional)" }),
    h("label", { for: "f-difficulty", text: "How hard was it, from 0 (easy) to 10 (very hard)?" }), box,
    h("fieldset", {}, h("legend", { text: "What got in the way?" }), h("div", { class: "chips" }, boxes.map((b) => b[2]))),
    error);
}

function helpView() {
  return {
    title: "Help now",
    draw: async () => {
      const crisis = await api("/api/crisis-resources");
      return [h("h1", { text: "If you need help now" }),
        h("section", { class: "help-now" }, h("p", { text: crisis.text || "If you are in danger now, call your local emergency number." })),
        h("p", { class: "quiet", text: crisis.from_practice
          ? "Your therapist's practice wrote this. It works without a network. Tell your therapist too."
          : "These are general numbers; your therapist's practice can add its own. This page works without a network." })];
    },
  };
}

function helpNow(text) {
  return h("section", { class: "help-now", role: "alert", "aria-labelledby": "help-h" },
    h("h2", { id: "help-h", text: "If you need help now" }), h("p", { text }));
}

// ---- goals and plan ---------------------------------------------------------------------

function planView() {
  return {
    title: "Goals",
    draw: async () => {
      const plan = await api(docPath("/plan"));
      const nodes = [h("h1", { text: "Goals and homework" })];
      if (!plan.goals.length) nodes.push(h("p", { class: "quiet", text: "No goals yet. You and your therapist can set them together." }));
      for (const goal of plan.goals) {
        const statusId = `gs-${goal.id}`;
        const status = h("select", { id: statusId }, [["active", "Working on it"], ["achieved", "Achieved"], ["dropped", "Let go of it"]]
          .map(([value, label]) => h("option", { value, text: label, selected: goal.status === value })));
        status.addEventListener("change", async () => {
          try { await api(docPath(`/goals/${encodeURIComponent(goal.id)}/status`), { status: status.value }); toast("Saved."); }
          catch (err) { toast(err.message); }
        });
        nodes.push(h("section", { class: "card" }, h("h2", { text: goal.title }),
          h("div", { class: "row" }, h("label", { for: statusId, class: "quiet", text: "Where it stands:" }), status),
          goal.why ? h("p", { class: "quiet", text: goal.why }) : null,
          h("ul", { class: "list" }, goal.steps.map((s) => {
            const box = h("input", { type: "checkbox", id: `s-${s.id}`, checked: s.done });
            box.addEventListener("change", async () => {
              try { await api(docPath(`/goals/${encodeURIComponent(goal.id)}/steps/${encodeURIComponent(s.id)}`), { done: box.checked }); }
              catch (err) { toast(err.message); box.checked = !box.checked; }
            });
            return h("li", {}, h("label", { class: "choice", for: `s-${s.id}` }, box, s.text));
          })), stepForm(goal), commentThread(goal.comments, { goal: goal.id }, `c-goal-${goal.id}`)));
      }
      nodes.push(goalForm());
      nodes.push(h("h2", { text: "Homework" }));
      nodes.push(h("ul", { class: "list" }, plan.assignments.map((a) => h("li", {},
        h("strong", { text: a.title }), " ", h("span", { class: "quiet", text: `${a.schedule}${a.status !== "active" ? ` (${a.status})` : ""}` }),
        commentThread(a.comments, { assignment: a.id }, `c-assignment-${a.id}`)))));
      return nodes;
    },
  };
}

function stepForm(goal) {
  const id = `step-${goal.id}`;
  const text = h("input", { type: "text", id });
  const error = h("p", { class: "error", role: "alert" });
  return h("div", { class: "row" }, h("label", { for: id, class: "quiet", text: "A small step:" }), text,
    h("button", { type: "button", class: "secondary", text: "Add step", onclick: async () => {
      try { await api(docPath(`/goals/${encodeURIComponent(goal.id)}/steps`), { text: text.value }); text.value = ""; scheduleRedraw(); }
      catch (err) { error.textContent = err.message; }
    } }), error);
}

function goalForm() {
  const title = h("input", { type: "text", id: "g-title" });
  const why = h("textarea", { id: "g-why", rows: 2 });
  const steps = h("textarea", { id: "g-steps", rows: 3 });
  const error = h("p", { class: "error", role: "alert" });
  return h("details", { class: "card" }, h("summary", { text: "Set a new goal" }),
    h("div", { class: "field" }, h("label", { for: "g-title", text: "The goal" }), title),
    h("div", { class: "field" }, h("label", { for: "g-why", text: "Why it matters (optional)" }), why),
    h("div", { class: "field" }, h("label", { for: "g-steps", text: "Small steps, one per line (optional)" }), steps),
    h("button", { type: "button", text: "Save the goal", onclick: async () => {
      try {
        await api(docPath("/goals"), { title: title.value, why: why.value, steps: steps.value.split("\n") });
        toast("Goal saved.");
        scheduleRedraw();
      } catch (err) { error.textContent = err.message; title.setAttribute("aria-invalid", "true"); }
    } }), error);
}

// ---- privacy, devices, safety numbers, the relay's record --------------------------------

function privacyView() {
  return {
    title: "Privacy",
    draw: async () => {
      const info = await api("/api/privacy");
      const client = state.session.me.role === "client";
      const nodes = [h("h1", { text: "Privacy and devices" })];
      nodes.push(h("section", { class: "card" }, h("h2", { text: "Who can read your homework" }),
        h("p", { text: client
          ? "Your homework is encrypted on this device. Your therapist and your own devices can read it; the practice's relay stores it but cannot. Entries marked “only you” stay on your own devices."
          : "Each client's homework is encrypted on your devices; the relay stores it but cannot read it." })));
      const w = info.whois;
      if (w.syncs) {
        nodes.push(h("section", { class: "card" }, h("h2", { text: "Safety numbers" }),
          h("p", { class: "help", text: w.how_to_compare }),
          h("p", {}, "Yours: ", h("code", { text: w.me.safety_number })),
          h("ul", { class: "list" }, w.documents.flatMap((d) => (d.members || []).filter((m) => m.safety_number !== w.me.safety_number).map((m) =>
            h("li", {}, h("strong", { text: `${m.name || m.role} (${m.role})` }), h("br"), h("code", { text: m.safety_number })))))));
      }
      const pairError = h("p", { class: "error", role: "alert" });
      const pairBox = h("div", { "aria-live": "polite" });
      const showPairing = (made) => {
        const qr = h("img", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(made.qr_svg)}`, alt: `QR code of the pairing code ${made.code}`, class: "qr" });
        pairBox.replaceChildren(h("p", {}, "Pairing code: ", h("strong", { text: made.code })), qr,
          h("p", { text: "On the new device, run:" }), h("pre", {}, h("code", { text: made.command })),
          h("p", { class: "quiet", text: `It works once, until ${made.expires}. Keep it private: whoever has it can read your homework.` }));
      };
      if (state.shown.pairing) showPairing(state.shown.pairing);
      nodes.push(h("section", { class: "card" }, h("h2", { text: "Your devices" }),
        h("ul", { class: "list" }, info.devices.map((d) => h("li", { text: `${d.name || `device ${d.id.slice(0, 8)}`}${d.this_device ? " (this one)" : ""}` }))),
        h("button", { type: "button", class: "secondary", text: "Add a device", onclick: async () => {
          pairError.textContent = "";
          try {
            state.shown.pairing = await api("/api/pairing", {});
            showPairing(state.shown.pairing);
            if (!pairBox.isConnected) scheduleRedraw();
          } catch (err) { pairError.textContent = err.message; }
        } }), pairBox, pairError));
      if (client && state.doc) {
        nodes.push(h("section", { class: "card" }, h("h2", { text: "Take your homework with you" }),
          h("p", { class: "row" },
            h("a", { class: "button secondary", href: docPath("/export/json"), download: "between-homework.json", text: "Export as JSON" }),
            h("a", { class: "button secondary", href: docPath("/export/markdown"), download: "between-homework.md", text: "Export as a readable report" }))));
      }
      const auditBox = h("div", {});
      if (state.shown.audit) auditBox.replaceChildren(auditTable(state.shown.audit));
      nodes.push(h("section", { class: "card" }, h("h2", { text: "What the relay recorded" }),
        h("p", { class: "help", text: "Every sign-in, read and write of your homework at the relay in the last 30 days, and anything it refused." }),
        h("button", { type: "button", class: "secondary", text: "Show the record", onclick: async () => {
          auditBox.replaceChildren(h("p", { class: "quiet", text: "Asking the relay…" }));
          try {
            state.shown.audit = await api("/api/audit");
            auditBox.replaceChildren(auditTable(state.shown.audit));
            if (!auditBox.isConnected) scheduleRedraw();
          }
          catch (err) { auditBox.replaceChildren(h("p", { role: "alert", class: "error", text: err.message })); }
        } }), auditBox));
      return nodes;
    },
  };
}

function auditTable(report) {
  const rows = [];
  for (const d of report.documents || []) for (const e of d.events || []) rows.push([d.label, e]);
  for (const e of report.account_events || []) rows.push(["your account", e]);
  if (!rows.length) return h("p", { class: "quiet", text: "Nothing recorded in the last 30 days." });
  rows.sort((a, b) => b[1].at_ms - a[1].at_ms);
  return h("table", {}, h("thead", {}, h("tr", {}, ["When", "Who", "What", "About"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows.slice(0, 200).map(([where, e]) => h("tr", { class: e.refused ? "refused" : null },
      h("td", { text: e.time }), h("td", { text: e.who_text }), h("td", { text: e.refused ? `Refused: ${e.what}` : e.what }), h("td", { text: where })))));
}

// ---- progress -----------------------------------------------------------------------------

function progressView() {
  return {
    title: "Progress",
    draw: async () => {
      const p = await api(docPath("/progress"));
      const r = p.report;
      const nodes = [h("h1", { text: "Progress" })];
      nodes.push(h("p", { text: `${plural(r.entries_this_week, "entry")} finished this week; ${plural(r.overall_streak, "day")} in a row with something written.` }));
      // Inline, so a screen reader gets each chart's description of its data, not only a title.
      const charts = await Promise.all((p.charts || []).map(async (chart) => {
        const response = await fetch(chart.url, { credentials: "same-origin" });
        const svg = new DOMParser().parseFromString(await response.text(), "image/svg+xml").documentElement;
        const picture = svg.nodeName === "svg" ? document.importNode(svg, true) : h("img", { src: chart.url, alt: chart.alt });
        return h("figure", { class: "chart card" }, picture, h("figcaption", { class: "quiet", text: chart.title }));
      }));
      nodes.push(...charts);
      if (r.adherence.length) {
        nodes.push(h("h2", { text: "Homework kept up" }));
        nodes.push(h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Homework" }), h("th", { scope: "col", text: "Done" }), h("th", { scope: "col", text: "Streak" }))),
          h("tbody", {}, r.adherence.map((a) => h("tr", {}, h("td", { text: a.title }), h("td", { text: `${a.done} of ${a.scheduled}` }), h("td", { text: String(a.current_streak) }))))));
      }
      return nodes;
    },
  };
}

// ---- therapist ---------------------------------------------------------------------------

function caseloadView() {
  return {
    title: "Clients",
    draw: async () => {
      const [rows, crisis] = await Promise.all([api("/api/caseload"), api("/api/crisis-resources")]);
      const nodes = [h("h1", { text: "Your clients" })];
      nodes.push(h("p", { class: "row" }, h("button", { type: "button", class: "secondary", text: "Look for new clients", onclick: async (event) => {
        event.target.disabled = true;
        try {
          const found = await api("/api/reopen", {});
          state.session = await api("/api/session");
          toast(`Up to date: ${plural(found.documents, "client")}.`);
          scheduleRedraw();
        }
        catch (err) { toast(err.message); }
        event.target.disabled = false;
      } })));
      nodes.push(inviteCard(), crisisCard(crisis.text));
      if (!rows.length) nodes.push(h("p", { class: "quiet", text: "No clients yet. `between client invite` makes an invite for a new client." }));
      nodes.push(h("ul", { class: "list" }, rows.map((r) => {
        const bits = [];
        if (r.risk && r.risk.length) bits.push(h("span", { class: "tag risk", text: `${plural(r.risk.length, "risk flag")} to review` }));
        if (r.new_entries && r.new_entries.length) bits.push(h("span", { class: "tag", text: `${plural(r.new_entries.length, "new entry")}` }));
        if (r.updated_entries && r.updated_entries.length) bits.push(h("span", { class: "tag", text: `${r.updated_entries.length} changed` }));
        if (r.unanswered_comments && r.unanswered_comments.length) bits.push(h("span", { class: "tag", text: `${plural(r.unanswered_comments.length, "comment")} to answer` }));
        if (r.overdue && r.overdue.length) bits.push(h("span", { class: "tag", text: `${r.overdue.length} overdue` }));
        if (r.status !== "ready") bits.push(h("span", { class: "tag", text: r.status === "not-arrived" ? "not arrived yet" : "cannot be read" }));
        return h("li", {}, h("a", { href: `#/d/${encodeURIComponent(r.id)}`, text: r.name }), " ", bits,
          r.needs_attention === false ? h("span", { class: "quiet", text: " nothing new" }) : null);
      })));
      return nodes;
    },
  };
}

function inviteCard() {
  const out = h("div", { "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert" });
  const show = (made) => out.replaceChildren(h("p", {}, "Invite: ", h("code", { text: made.invite })),
    h("p", { text: "On their first device they run:" }), h("pre", {}, h("code", { text: made.command })),
    h("p", { class: "quiet", text: `It works until ${made.expires}. Your safety number, for them to compare: ${made.fingerprint}. When they have joined, press “Look for new clients”.` }));
  if (state.shown.invite) show(state.shown.invite);
  return h("details", { class: "card", open: !!state.shown.invite }, h("summary", { text: "Invite a new client" }),
    h("p", { class: "help", text: "An invite works once, for 14 days. Give it to your client privately; their homework is shared with you when they join." }),
    h("button", { type: "button", text: "Make an invite", onclick: async () => {
      error.textContent = "";
      try {
        state.shown.invite = await api("/api/invite", {});
        show(state.shown.invite);
        // Redrawn while it was made: the page on screen shows it from `state.shown`.
        if (!out.isConnected) scheduleRedraw();
      } catch (err) { error.textContent = err.message; }
    } }), out, error);
}

function crisisCard(text) {
  const area = h("textarea", { id: "crisis-text", rows: 4 });
  area.value = text || "";
  const error = h("p", { class: "error", id: "e-crisis", role: "alert" });
  return h("details", { class: "card" }, h("summary", { text: "Your practice's crisis resources" }),
    h("label", { for: "crisis-text", text: "What a client sees with a risky answer and under “help now”: numbers, hours, what to do" }), area,
    h("button", { type: "button", text: "Save for every client", onclick: async () => {
      error.textContent = "";
      try { const done = await api("/api/crisis-resources", { text: area.value }); toast(`Saved in the homework of ${plural(done.clients, "client")}.`); }
      catch (err) { error.textContent = err.message; }
    } }), error);
}

function clientView() {
  return {
    title: "Client",
    draw: async () => {
      const [entries, plan, caseload] = await Promise.all([api(docPath("/entries")), api(docPath("/plan")), api("/api/caseload")]);
      api(docPath("/looked"), {}).catch(() => {});
      const row = caseload.find((r) => r.id === state.doc) || {};
      const doc = state.session.documents.find((d) => d.id === state.doc);
      const base = `#/d/${encodeURIComponent(state.doc)}`;
      const nodes = [
        h("h1", { text: row.name || (doc ? doc.label : "Client") }),
        h("p", { class: "row" }, h("a", { class: "button", href: `${base}/assign`, text: "Assign homework" }),
          h("a", { class: "button secondary", href: `${base}/progress`, text: "Progress" }),
          h("a", { class: "button secondary", href: `${base}/plan`, text: "Goals and homework" })),
      ];
      for (const flag of row.risk || []) nodes.push(riskCard(flag));
      nodes.push(h("h2", { text: "Entries" }), entryList(entries));
      nodes.push(h("h2", { text: "Homework" }));
      nodes.push(h("ul", { class: "list" }, plan.assignments.map((a) => h("li", {},
        h("strong", { text: a.title }), " ", h("span", { class: "quiet", text: `${a.schedule} (${a.status})` }), adjustForm(a)))));
      return nodes;
    },
  };
}

function riskCard(flag) {
  const id = `ack-${flag.entry}`;
  const note = h("textarea", { id, rows: 2 });
  const error = h("p", { class: "error", role: "alert" });
  const item9 = flag.score.item9_positive ? " Item 9 (thoughts of self-harm) was answered above 0." : "";
  return h("section", { class: "card help-now", "aria-label": "Risk flag" },
    h("h2", { text: `Questionnaire of ${flag.date} to review` }),
    h("p", { text: `Total ${flag.score.total} of ${flag.score.max}, ${flag.score.severity.replace(/-/g, " ")}.${item9}` }),
    h("p", {}, h("a", { href: entryHref(flag.entry), text: "Open the questionnaire" })),
    h("label", { for: id, text: "What you did (optional)" }), note,
    h("button", { type: "button", text: "Mark as reviewed", onclick: async () => {
      try { await api(docPath(`/risk/${encodeURIComponent(flag.entry)}/acknowledge`), { note: note.value }); toast("Marked as reviewed."); scheduleRedraw(); }
      catch (err) { error.textContent = err.message; }
    } }), error);
}

function adjustForm(a) {
  const field = (name, label, value) => {
    const id = `adj-${a.id}-${name}`;
    return [h("label", { for: id, text: label }), h("input", { type: "text", id, value: value || "" })];
  };
  const error = h("p", { class: "error", role: "alert" });
  const read = (name) => document.getElementById(`adj-${a.id}-${name}`).value;
  const setStatus = (status, label) => h("button", { type: "button", class: "secondary", text: label, onclick: async () => {
    error.textContent = "";
    try { await api(docPath(`/assignments/${encodeURIComponent(a.id)}/status`), { status, why: read("why") }); toast(`${label}: done.`); scheduleRedraw(); }
    catch (err) { error.textContent = err.message; }
  } });
  const remindId = `adj-${a.id}-remind`;
  const remindAt = h("input", { type: "time", id: remindId, value: a.remind_at || "" });
  remindAt.addEventListener("change", async () => {
    try { await api(docPath(`/assignments/${encodeURIComponent(a.id)}/remind`), { at: remindAt.value || null }); toast(remindAt.value ? `Reminds at ${remindAt.value}.` : "No reminder."); }
    catch (err) { error.textContent = err.message; }
  });
  return h("details", { class: "reply" }, h("summary", { text: `Adjust ${a.title}` }),
    h("label", { for: remindId, text: "Remind the client at (their devices, when it is due)" }), remindAt,
    field("every", "How often (daily, weekly:mon,thu, 3/week…)", ""),
    field("minutes", "Minutes each time", a.minutes ? String(a.minutes) : ""),
    field("focus", "What to focus on", a.focus),
    field("why", "Why (the client sees it)", ""),
    h("button", { type: "button", text: "Save the change", onclick: async () => {
      error.textContent = "";
      try {
        await api(docPath(`/assignments/${encodeURIComponent(a.id)}/adjust`), {
          // Only what was changed is sent: the rest stays as it is.
          every: read("every"),
          minutes: read("minutes") && Number(read("minutes")) !== a.minutes ? Number(read("minutes")) : null,
          focus: read("focus") !== (a.focus || "") ? read("focus") : null,
          why: read("why"),
        });
        toast("Adjusted."); scheduleRedraw();
      } catch (err) { error.textContent = err.message; }
    } }),
    h("div", { class: "row" }, a.status === "paused" ? setStatus("active", "Resume") : setStatus("paused", "Pause"),
      setStatus("done", "Mark as done"), setStatus("archived", "Archive")),
    error);
}

const QUESTION_KINDS = [
  ["short-text", "A short answer"], ["long-text", "Free writing"], ["scale", "A number on a scale"],
  ["yes-no", "Yes or no"], ["single-choice", "One of several options"], ["multi-choice", "Any of several options"],
  ["checklist", "A checklist"], ["date-time", "A date and time"],
];

/** A custom worksheet, question by question (what `between template create` takes). */
function worksheetBuilder(onSaved) {
  const questions = h("div", {});
  const error = h("p", { class: "error", role: "alert" });
  let count = 0;
  const addQuestion = () => {
    count += 1;
    const n = count;
    const label = h("input", { type: "text", id: `q-${n}-label` });
    const kind = h("select", { id: `q-${n}-kind` }, QUESTION_KINDS.map(([value, text]) => h("option", { value, text })));
    const min = h("input", { type: "number", id: `q-${n}-min`, value: "0" });
    const max = h("input", { type: "number", id: `q-${n}-max`, value: "10" });
    const options = h("textarea", { id: `q-${n}-options`, rows: 3 });
    const required = h("input", { type: "checkbox", id: `q-${n}-required` });
    const scale = h("div", { class: "row", hidden: true }, h("label", { for: `q-${n}-min`, text: "From" }), min, h("label", { for: `q-${n}-max`, text: "to" }), max);
    const choices = h("div", { hidden: true }, h("label", { for: `q-${n}-options`, text: "Options, one per line" }), options);
    kind.addEventListener("change", () => {
      scale.hidden = kind.value !== "scale";
      choices.hidden = !["single-choice", "multi-choice", "checklist"].includes(kind.value);
    });
    const block = h("fieldset", { class: "field" }, h("legend", { text: `Question ${n}` }),
      h("label", { for: `q-${n}-label`, text: "The question" }), label,
      h("label", { for: `q-${n}-kind`, text: "Answered as" }), kind, scale, choices,
      h("label", { class: "choice", for: `q-${n}-required` }, required, "Needed to finish"));
    block.read = () => {
      const lines = options.value.split("\n").map((o) => o.trim()).filter(Boolean);
      const type = kind.value;
      const kinds = {
        scale: { type, min: Number(min.value), max: Number(max.value) },
        "single-choice": { type, options: lines }, "multi-choice": { type, options: lines }, checklist: { type, items: lines },
      };
      return { label: label.value, kind: kinds[type] || { type }, required: required.checked };
    };
    questions.append(block);
    label.focus();
  };
  const name = h("input", { type: "text", id: "w-name" });
  const description = h("textarea", { id: "w-description", rows: 2 });
  return h("details", { class: "card" }, h("summary", { text: "Make your own worksheet" }),
    h("div", { class: "field" }, h("label", { for: "w-name", text: "Its name" }), name),
    h("div", { class: "field" }, h("label", { for: "w-description", text: "What it is for" }), description),
    questions,
    h("div", { class: "row" },
      h("button", { type: "button", class: "secondary", text: "Add a question", onclick: addQuestion }),
      h("button", { type: "button", text: "Save the worksheet", onclick: async () => {
        error.textContent = "";
        try {
          const made = await api(docPath("/templates"), { name: name.value, description: description.value, fields: [...questions.children].map((q) => q.read()) });
          toast("Worksheet saved: it is chosen below.");
          await onSaved(made.id);
        } catch (err) { error.textContent = err.message; }
      } })),
    error);
}

function assignView() {
  return {
    title: "Assign homework",
    // Nothing here changes with another device's edits, and a redraw would lose a worksheet
    // being built question by question.
    update: () => {},
    draw: async () => {
      const templates = await api(docPath("/templates"));
      const error = h("p", { class: "error", role: "alert", id: "assign-error" });
      const input = (id, label, attrs) => h("div", { class: "field" }, h("label", { for: id, text: label }), h("input", { type: "text", id, ...attrs }));
      const select = h("select", { id: "a-template" }, templates.map((t) => h("option", { value: t.id, text: t.name })));
      const instructions = h("textarea", { id: "a-instructions", rows: 4 });
      const submit = async () => {
        error.textContent = "";
        const value = (id) => document.getElementById(id).value;
        try {
          await api(docPath("/assignments"), {
            template: select.value, title: value("a-title"), instructions: instructions.value,
            every: value("a-every"), starts: value("a-starts"), ends: value("a-ends"),
            minutes: value("a-minutes") ? Number(value("a-minutes")) : null, focus: value("a-focus"),
          });
          toast("Assigned.");
          location.hash = `#/d/${encodeURIComponent(state.doc)}`;
        } catch (err) { error.textContent = err.message; }
      };
      return [
        h("h1", { text: "Assign homework" }),
        worksheetBuilder(async (id) => {
          const fresh = await api(docPath("/templates"));
          select.replaceChildren(...fresh.map((t) => h("option", { value: t.id, text: t.name, selected: t.id === id })));
        }),
        h("div", { class: "field" }, h("label", { for: "a-template", text: "Worksheet" }), select),
        input("a-title", "Title (optional: the worksheet's name)"),
        h("div", { class: "field" }, h("label", { for: "a-instructions", text: "Instructions for your client" }), instructions),
        input("a-every", "How often: daily, weekly:mon,thu, 3/week, once:+3", { value: "daily" }),
        input("a-starts", "First day (YYYY-MM-DD, optional)"),
        input("a-ends", "Last day (optional)"),
        input("a-minutes", "Minutes each time (optional)", { inputmode: "numeric" }),
        input("a-focus", "What to focus on (optional)"),
        h("button", { type: "button", text: "Assign", onclick: submit }), error,
      ];
    },
  };
}

// ---- start ----------------------------------------------------------------------------

async function start() {
  try {
    state.session = await api("/api/session");
  } catch (err) {
    main().replaceChildren(h("h1", { text: "Between" }), h("p", { role: "alert", text: err.message }));
    return;
  }
  listen();
  refreshStatus();
  window.addEventListener("hashchange", route);
  route();
}

start();
