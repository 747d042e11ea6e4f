// mlgrade review: walk through every flagged item of a class with the keyboard.
// Student text reaches this page only as JSON shown with textContent, or as the server's HTML
// for an item's evidence, in which the server escaped every string. Decisions are sent at once
// (in order, one at a time) and the page moves on without waiting for them.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const FILTERS = ["todo", "all", "changed", "accepted", "stale"];
const FILTER_NAMES = {todo: "unreviewed", all: "all", changed: "overridden", accepted: "accepted", stale: "stale"};

let items = [];          // every item, in queue order (question by question, then student)
let byId = new Map();
let progress = {reviewed: 0, flagged: 0, unexported: 0};
let currentId = null;
const details = new Map();  // id -> {item, html, images}: fetched once, prefetched ahead
let pending = Promise.resolve();  // decisions go to the server one after another
let inFlight = 0;
let version = null;  // changes when the class is regraded: evidence fetched before is out of date

async function api(path, body) {
  const headers = {"X-Mlgrade-Token": TOKEN};
  const opts = {headers, cache: "no-store"};
  if (body !== undefined) {
    opts.method = "POST";
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const response = await fetch(path, opts);
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: response.statusText}; }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

function fmt(x) {
  if (x === null || x === undefined) return "";
  return Number.isInteger(x) ? String(x) : String(Math.round(x * 10000) / 10000);
}

function isReviewed(it) { return it.state === "accepted" || it.state === "changed"; }

function matches(it) {
  const f = $("filter").value, q = $("question").value;
  if (q && it.question !== q) return false;
  if (f === "todo") return it.state === "todo" || it.state === "stale";
  if (f === "all") return true;
  return it.state === f;
}

function view() { return items.filter(matches); }

// ---- loading ----------------------------------------------------------------------------------

async function load() {
  const s = await api("/api/state");
  version = s.version;
  items = s.items;
  byId = new Map(items.map((it) => [it.id, it]));
  progress = s.progress;
  $("class-name").textContent = s.class;
  document.title = `review: ${s.class}`;
  const sel = $("question");
  const chosen = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  for (const q of s.questions) {
    if (!items.some((it) => it.question === q)) continue;
    const n = items.filter((it) => it.question === q && it.flagged).length;
    sel.add(new Option(`${q} (${n})`, q));
  }
  sel.value = chosen;
  details.clear();
  showProgress();
}

function showProgress() {
  const p = progress;
  $("progress-text").textContent = `${p.reviewed} of ${p.flagged} reviewed`;
  $("progress-bar").style.width = p.flagged ? `${(100 * p.reviewed / p.flagged).toFixed(1)}%` : "0";
  $("export").textContent = p.unexported ? `Write grade files (${p.unexported} changes)` : "Write grade files";
}

async function detail(id) {
  if (!details.has(id)) details.set(id, api(`/api/item/${id}`));
  try {
    return await details.get(id);
  } catch (e) {
    details.delete(id);
    throw e;
  }
}

function prefetch(id) {
  const v = view();
  const i = v.findIndex((it) => it.id === id);
  for (const it of v.slice(i + 1, i + 3)) {
    detail(it.id).then((d) => { for (const src of d.images) { const img = new Image(); img.src = src; } })
      .catch(() => {});
  }
}

// ---- showing an item --------------------------------------------------------------------------

async function show(id) {
  currentId = id;
  const it = byId.get(id);
  renderPanel(it);
  renderHead(it);
  if (!it) return;
  $("item-body").textContent = "loading…";
  try {
    const d = await detail(id);
    if (currentId !== id) return;
    $("item-body").innerHTML = d.html;  // the server's HTML: every student string escaped there
    for (const fig of document.querySelectorAll("figure.shot")) {
      fig.addEventListener("click", () => fig.classList.toggle("zoom"));
    }
  } catch (e) {
    $("item-body").textContent = `could not load this item: ${e.message}`;
  }
  prefetch(id);
}

function renderHead(it) {
  const head = $("item-head");
  head.textContent = "";
  if (!it) {
    const v = view();
    const p = document.createElement("div");
    p.className = "done";
    p.textContent = progress.reviewed === progress.flagged
      ? `All ${progress.flagged} flagged items are reviewed. Press E to write the grade files.`
      : `Nothing in this view (${FILTER_NAMES[$("filter").value]}). Press F for another.`;
    head.append(p);
    $("item-body").textContent = "";
    $("banner").textContent = "";
    $("position").textContent = v.length ? "" : "0 of 0";
    return;
  }
  const who = document.createElement("span");
  who.className = "student";
  who.textContent = it.student;
  const what = document.createElement("span");
  what.textContent = it.question;
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = it.title;
  const state = document.createElement("span");
  state.className = `state ${it.state}`;
  state.id = "state";
  state.textContent = {todo: "to review", accepted: "accepted", changed: "changed", stale: "stale decision",
                       none: "not flagged"}[it.state];
  head.append(who, what, title, state);
  const banner = $("banner");
  banner.textContent = "";
  if (it.state === "stale") {
    const b = document.createElement("div");
    b.className = "alert";
    b.textContent = `Your decision of ${it.at} (${it.decision}${it.comment ? ": " + it.comment : ""}) was for an ` +
      "earlier submission: the student handed in again since. It is not applied; decide again.";
    banner.append(b);
  }
  const v = view();
  const i = v.findIndex((x) => x.id === it.id);
  $("position").textContent = i >= 0 ? `${i + 1} of ${v.length}` : `(not in this view)`;
}

function renderPanel(it) {
  const auto = $("auto");
  auto.textContent = "";
  $("decision").textContent = "";
  $("decision").className = "";
  for (const id of ["score", "comment", "accept", "save", "clear"]) $(id).disabled = !it;
  if (!it) return;
  const pts = document.createElement("span");
  pts.className = "pts";
  pts.textContent = `${fmt(it.automatic)} / ${fmt(it.max)}`;
  auto.append("automatic score ", pts);
  $("of").textContent = `of ${fmt(it.max)}`;
  $("score").value = fmt(it.state === "stale" ? it.automatic : it.score);
  $("comment").value = it.comment || "";
  const d = $("decision");
  d.className = it.state;
  if (it.state === "accepted") d.textContent = `accepted by ${it.by || "you"} ${it.at ? "(" + it.at + ")" : ""}`;
  if (it.state === "changed") d.textContent = `score set to ${fmt(it.score)} by ${it.by || "you"} (${it.decision})`;
}

// ---- moving -----------------------------------------------------------------------------------

function step(delta) {
  const v = view();
  if (!v.length) return show(null);
  let i = v.findIndex((it) => it.id === currentId);
  if (i < 0) {  // the current item left the view: go to the first one after it in the queue
    const at = items.findIndex((it) => it.id === currentId);
    const after = v.findIndex((it) => items.indexOf(it) > at);
    return show((delta > 0 ? v[after >= 0 ? after : 0] : v[Math.max((after >= 0 ? after : v.length) - 1, 0)]).id);
  }
  i = Math.min(Math.max(i + delta, 0), v.length - 1);
  return show(v[i].id);
}

function nextUnreviewed(fromId) {
  const q = $("question").value;
  const todo = (it) => (it.state === "todo" || it.state === "stale") && (!q || it.question === q);
  const at = items.findIndex((it) => it.id === fromId);
  const after = items.slice(at + 1).find(todo) || items.slice(0, Math.max(at, 0)).find(todo);
  if (after) {
    if (!matches(after)) $("filter").value = "todo";
    return show(after.id);
  }
  return show(null);
}

// ---- deciding ---------------------------------------------------------------------------------

function send(path, body, onDone) {
  inFlight += 1;
  status("saving…", "busy");
  pending = pending.then(() => api(path, body)).then((r) => {
    if (r.item) { Object.assign(byId.get(r.item.id) || {}, r.item); }
    if (r.progress) { progress = r.progress; showProgress(); }
    if (onDone) onDone(r);
    inFlight -= 1;
    if (!inFlight) status("saved");
    if (r.item && r.item.id === currentId) { renderPanel(byId.get(currentId)); renderHead(byId.get(currentId)); }
  }).catch(async (e) => {
    inFlight -= 1;
    status(`not saved: ${e.message}`, "error");
    await load().catch(() => {});  // the server's state is the truth
    show(currentId);
  });
  return pending;
}

function decide(action, value) {
  const it = byId.get(currentId);
  if (!it) return;
  const comment = $("comment").value.trim();
  // shown at once; the server's answer confirms it
  if (action === "accept") Object.assign(it, {state: "accepted", score: it.automatic, comment});
  else if (action === "score") Object.assign(it, {state: value === it.automatic ? "accepted" : "changed", score: value, comment});
  else if (action === "delta") {
    const s = Math.min(Math.max(it.automatic + value, 0), it.max);
    Object.assign(it, {state: s === it.automatic ? "accepted" : "changed", score: s, comment});
  }
  send("/api/decide", {id: it.id, action, value, comment});
  document.activeElement && document.activeElement.blur();
  nextUnreviewed(it.id);
}

function saveTyped() {
  const it = byId.get(currentId);
  if (!it) return;
  const text = $("score").value.trim().replace(",", ".");
  if (text === "" || Number(text) === it.automatic) return decide("accept");
  if (/^[+-]\s*(\d+(\.\d*)?|\.\d+)$/.test(text)) return decide("delta", Number(text.replace(/\s/g, "")));
  if (/^(\d+(\.\d*)?|\.\d+)$/.test(text)) {
    const v = Number(text);
    if (v > it.max) { status(`${it.question} is worth ${fmt(it.max)} points`, "error"); return $("score").focus(); }
    return decide("score", v);
  }
  status("a score is a number (0.25), or a change (+0.5, -1)", "error");
  $("score").focus();
}

function clearDecision() {
  const it = byId.get(currentId);
  if (!it) return;
  Object.assign(it, {state: it.flagged ? "todo" : "none", score: it.automatic, comment: ""});
  renderPanel(it);
  renderHead(it);
  send("/api/decide", {id: it.id, action: "clear"});
}

function undo() {
  send("/api/undo", {}, (r) => { if (r.item) show(r.item.id); });
}

function exportNow() {
  status("writing the grade files…", "busy");
  inFlight += 1;
  pending = pending.then(() => api("/api/export", {})).then((r) => {
    inFlight -= 1;
    progress = r.progress;
    showProgress();
    status(r.notes && r.notes.length ? `grade files written; ${r.notes.length} decisions not applied (see the terminal)`
      : "grade files written");
  }).catch((e) => { inFlight -= 1; status(`not written: ${e.message}`, "error"); });
}

function cycle(select) {
  select.selectedIndex = (select.selectedIndex + 1) % select.options.length;
  select.dispatchEvent(new Event("change"));
}

// ---- keys -------------------------------------------------------------------------------------

function onKey(e) {
  const t = e.target;
  if (t && t.tagName === "BUTTON" && (e.key === "Enter" || e.key === " ")) return;  // the button's own click
  const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  if (typing) {
    if (e.key === "Escape") { t.blur(); e.preventDefault(); }
    else if (e.key === "Enter" && !e.shiftKey && t.tagName !== "SELECT") { e.preventDefault(); saveTyped(); }
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) {
    if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undo(); }
    return;
  }
  const k = e.key;
  const actions = {
    a: () => decide("accept"), Enter: () => saveTyped(),
    s: () => { $("score").focus(); $("score").select(); },
    c: () => $("comment").focus(),
    0: () => { $("score").value = "0"; $("comment").focus(); },
    j: () => step(1), n: () => step(1), ArrowRight: () => step(1), ArrowDown: () => step(1),
    k: () => step(-1), p: () => step(-1), ArrowLeft: () => step(-1), ArrowUp: () => step(-1),
    u: () => nextUnreviewed(currentId), z: () => undo(), x: () => clearDecision(),
    f: () => cycle($("filter")), q: () => cycle($("question")), e: () => exportNow(),
    i: () => { const fig = document.querySelector("figure.shot"); if (fig) fig.classList.toggle("zoom"); },
    "?": () => { $("help").open = !$("help").open; },
  };
  const run = actions[k] || (k.length === 1 ? actions[k.toLowerCase()] : undefined);
  if (run) { e.preventDefault(); run(); }
}

// Decisions written elsewhere (mlgrade override, a second tab) and regrades show up here too.
async function poll() {
  if (document.hidden || inFlight) return;
  const t = document.activeElement;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA")) return;  // never under the instructor's typing
  let s;
  try { s = await api("/api/state"); } catch (e) { return; }
  if (inFlight) return;
  if (s.version !== version) { await load(); return show(currentId); }
  const before = JSON.stringify(byId.get(currentId) || null);
  items = s.items;
  byId = new Map(items.map((it) => [it.id, it]));
  progress = s.progress;
  showProgress();
  const it = byId.get(currentId);
  if (JSON.stringify(it || null) !== before) { renderPanel(it); renderHead(it); }
}

function onFilter() {
  const it = byId.get(currentId);
  if (it && matches(it)) return show(it.id);
  const v = view();
  return show(v.length ? v[0].id : null);
}

async function start() {
  document.addEventListener("keydown", onKey);
  $("filter").addEventListener("change", onFilter);
  $("question").addEventListener("change", onFilter);
  $("accept").addEventListener("click", () => decide("accept"));
  $("save").addEventListener("click", saveTyped);
  $("clear").addEventListener("click", clearDecision);
  $("undo").addEventListener("click", undo);
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("next-todo").addEventListener("click", () => nextUnreviewed(currentId));
  $("export").addEventListener("click", exportNow);
  try {
    await load();
  } catch (e) {
    $("progress-text").textContent = "";
    status(`cannot load the class: ${e.message}`, "error");
    return;
  }
  const first = items.find((it) => it.state === "todo" || it.state === "stale");
  if (!first) $("filter").value = "all";
  const v = view();
  await show(first ? first.id : (v.length ? v[0].id : null));
  document.body.dataset.ready = "1";
  setInterval(poll, 15000);
}

start();
