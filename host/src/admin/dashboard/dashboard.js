// The dashboard: reads /api/metrics (for the period in the page's own ?from=&to=, else the
// default) and /api/operations, and the drill-down routes on a click. Every value is set as text
// (textContent), never as markup.
"use strict";

const $ = (id) => document.getElementById(id);

const element = (tag, attributes, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-")) node.dataset[name.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = value;
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
};

const say = (text, isError) => {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
};

// An answer's JSON; without a session, back to the login form.
const getJSON = async (path) => {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (response.status === 401) {
    window.location.assign("/login?next=/");
    throw new Error("not logged in");
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || path + " answered " + response.status);
  return answer;
};

const NONE = "\u2014";
const rate = (x) => (x === null || x === undefined ? NONE : Math.round(x * 1000) / 10 + "%");
const days = (x) => (x === null || x === undefined ? NONE : Math.round(x * 10) / 10 + " days");
const money = (m) => (m ? m.currency + " " + (m.minor / 100).toFixed(2) : NONE);
const minor = (amount, currency) => money({ minor: amount, currency: currency || "" }).trim();
const seconds = (s) => {
  if (s === null || s === undefined) return NONE;
  return s < 1 ? Math.round(s * 1000) + " ms" : Math.round(s * 10) / 10 + " s";
};
const day = (ms) => (ms === null || ms === undefined ? NONE : new Date(ms).toISOString().slice(0, 10));
const label = (name) => String(name).replace(/_/g, " ");

// Which way a figure went since the period before.
const trend = (current, previous) => {
  if (typeof current !== "number" || typeof previous !== "number") return ["none", ""];
  if (current > previous) return ["up", "\u25B2"];
  if (current < previous) return ["down", "\u25BC"];
  return ["flat", "\u25B6"];
};

const card = (metric, title, current, previous, show, note) => {
  const [direction, arrow] = trend(current, previous);
  return element(
    "div",
    { class: "card", "data-metric": metric },
    element("h3", {}, title),
    element(
      "p",
      { class: "value" },
      show(current),
      element("span", { class: "trend", "data-trend": direction, "aria-label": direction }, arrow),
    ),
    note === undefined
      ? element("p", { class: "previous" }, "before: " + show(previous))
      : element("p", { class: "note" }, note),
  );
};

const northStar = (m) => {
  const now = m.sales.current;
  const before = m.sales.previous;
  const ltv = (s) => s.lifetime_value.mean_per_buyer;
  const predicted = m.predicted_lifetime_value;
  $("north-star").replaceChildren(
    card("repeat_purchase_rate", "Repeat purchase rate", now.repeat_purchase_rate, before.repeat_purchase_rate, rate),
    card("mean_days_between_visits", "Days between visits", now.mean_days_between_visits, before.mean_days_between_visits, days),
    card("median_days_to_second_order", "Time to second order (median)", now.second_order.median_days, before.second_order.median_days, days),
    card("lifetime_value", "Lifetime value per buyer", ltv(now) && ltv(now).minor, ltv(before) && ltv(before).minor,
      (x) => (x === null || x === undefined ? NONE : minor(x, (ltv(now) || ltv(before)).currency))),
    predicted.status === "available"
      ? card("predicted_lifetime_value", "Predicted value, next 12 months", predicted.mean_12_months.minor, null,
        () => money(predicted.mean_12_months), predicted.customers + " customers, fit of " + predicted.fit_as_of)
      : card("predicted_lifetime_value", "Predicted value, next 12 months", null, null, () => NONE, predicted.reason),
  );
};

const connectors = (operations) => {
  const health = (h) => element("td", { class: "health-" + h, "data-field": "health" }, h);
  const cell = (field, text) => element("td", { "data-field": field }, text);
  const rows = operations.sinks.map((s) => {
    const failing = s.dead_letters > 0
      ? element("button", { type: "button", class: "link", "data-failures": s.sink }, s.dead_letters + " failing")
      : "0";
    const failures = element("td", { "data-field": "dead_letters" }, failing);
    return element("tr", { "data-connector": s.sink, "data-kind": "sink" },
      element("th", { scope: "row" }, s.sink + " (sink)"), cell("plugin", s.plugin), health(s.health),
      cell("generation", s.generation), cell("backlog", s.backlog),
      cell("p50", seconds(s.latency.p50_seconds)), cell("p99", seconds(s.latency.p99_seconds)),
      cell("error_budget", rate(s.error_budget.remaining)), failures);
  });
  for (const s of operations.sources) {
    rows.push(element("tr", { "data-connector": s.source, "data-kind": "source" },
      element("th", { scope: "row" }, s.source + " (source)"), cell("plugin", s.plugin), health(s.health),
      cell("generation", s.generation), cell("backlog", NONE), cell("p50", NONE), cell("p99", NONE),
      cell("error_budget", NONE), cell("dead_letters", NONE)));
  }
  $("connectors").tBodies[0].replaceChildren(...rows);
};

// A list of bars, each a button.
const bars = (list, items, value, most, caption, attributes) => {
  list.replaceChildren(...items.map((item) => {
    const share = most > 0 ? Math.round((100 * value(item)) / most) : 0;
    // Through the CSSOM: the policy allows no style attribute.
    const fill = element("span");
    fill.style.width = share + "%";
    const bar = element("span", { class: "bar" }, fill);
    return element("li", {}, element("button", attributes(item), element("span", {}, caption(item)[0]), bar,
      element("span", {}, caption(item)[1])));
  }));
};

const segments = (m) => {
  const lines = m.segments.segments;
  const most = Math.max(0, ...lines.map((s) => s.people));
  bars($("segments"), lines, (s) => s.people, most,
    (s) => [label(s.segment), s.people + (s.people === 1 ? " person" : " people")],
    (s) => ({ type: "button", "data-segment": s.segment }));
};

const journeys = (m) => {
  bars($("journeys"), m.journeys.current, (j) => j.conversion_rate || 0, 1,
    (j) => [j.journey, rate(j.conversion_rate) + " of " + j.entered],
    (j) => ({ type: "button", "data-journey": j.journey }));
};

const detail = (title, ...body) => {
  $("detail-title").textContent = title;
  $("detail-body").replaceChildren(...body);
  $("detail").hidden = false;
  $("detail").scrollIntoView({ block: "nearest" });
};

const table = (id, headings, rows) => element("table", { id },
  element("thead", {}, element("tr", {}, ...headings.map((h) => element("th", {}, h)))),
  element("tbody", {}, ...rows));

const showSegment = async (segment) => {
  const answer = await getJSON("/api/segments/" + encodeURIComponent(segment) + "/people");
  const rows = answer.people.map((p) => {
    const name = [p.given_name, p.family_name].filter(Boolean).join(" ") || p.key;
    return element("tr", { "data-key": p.key },
      element("td", {}, element("button", { type: "button", class: "link", "data-profile": p.key }, name)),
      element("td", {}, p.visits), element("td", {}, day(p.last_visit_at)),
      element("td", {}, minor(p.net_spend_minor, p.currency)));
  });
  detail(label(segment) + ": " + answer.people.length + " people",
    table("people", ["Person", "Visits", "Last visit", "Net spend"], rows));
};

const showProfile = async (key) => {
  const p = await getJSON("/api/profiles/" + encodeURIComponent(key) + "?view=marketer");
  const name = [p.given_name, p.family_name].filter(Boolean).join(" ") || p.key;
  const facts = [
    ["Emails", p.emails.join(", ") || NONE],
    ["Phones", p.phones.join(", ") || NONE],
    ["Opted in", p.opted_in.join(", ") || NONE],
    ["Orders", p.orders], ["Visits", p.visits], ["Returns", p.returns],
    ["First visit", p.first_visit ? p.first_visit.slice(0, 10) : NONE],
    ["Last visit", p.last_visit ? p.last_visit.slice(0, 10) : NONE],
    ["Net spend", money(p.net_spend)],
    ["Typical basket", money(p.typical_basket)],
    ["Days between visits (mean)", days(p.mean_days_between_visits)],
    ["Segment", p.rfm ? label(p.rfm.segment) : NONE],
    ["Favoured categories", p.favoured_categories.map((c) => c.category).join(", ") || NONE],
  ];
  detail(name, element("dl", { id: "profile", "data-key": p.key },
    ...facts.flatMap(([term, value]) => [element("dt", {}, term), element("dd", { "data-fact": term }, value)])));
};

const showJourney = async (journey, m) => {
  const configured = (await getJSON("/api/journeys")).find((j) => j.journey === journey);
  const name = configured && configured.experiment;
  const report = m.experiments.find((e) => e.experiment === name);
  if (!report) {
    detail(journey, element("p", {}, "This journey runs no experiment."));
    return;
  }
  const rows = report.arms.map((a) => element("tr", { "data-arm": a.arm },
    element("td", {}, a.arm), element("td", {}, a.people), element("td", {}, a.sent),
    element("td", {}, a.conversions), element("td", {}, rate(a.rate)),
    element("td", {}, a.lift === null ? NONE : rate(a.lift)),
    element("td", { "data-field": "opened" }, a.engagement.opened + " (" + rate(a.engagement_rates.open_rate) + ")"),
    element("td", { "data-field": "clicked" }, a.engagement.clicked + " (" + rate(a.engagement_rates.click_rate) + ")"),
    element("td", {}, a.sentence || "baseline")));
  detail(journey + ": experiment " + report.experiment,
    table("arms", ["Arm", "People", "Sent", "Conversions", "Rate", "Lift", "Opened", "Clicked", "Verdict"], rows));
};

const showFailures = async (sink) => {
  const answer = await getJSON("/api/sinks/" + encodeURIComponent(sink) + "/failures");
  const items = answer.failures.map((f) => element("li", { class: "failure", "data-id": f.id },
    element("strong", {}, f.status + " " + f.kind + " for " + f.profile_key),
    " after " + f.attempts + (f.attempts === 1 ? " attempt, " : " attempts, ") + day(f.created_at),
    element("p", { class: "reason" }, f.error || "no reason given")));
  detail(sink + ": " + answer.failures.length + " failing deliveries", element("ul", { id: "failures" }, ...items));
};

const guarded = (work) => work().catch((e) => say(e.message, true));

document.addEventListener("DOMContentLoaded", () => guarded(async () => {
  const query = new URLSearchParams(window.location.search);
  const period = new URLSearchParams();
  for (const name of ["from", "to"]) if (query.get(name)) period.set(name, query.get(name));
  const [m, operations] = await Promise.all([
    getJSON("/api/metrics" + (period.toString() ? "?" + period : "")),
    getJSON("/api/operations"),
  ]);
  $("period").textContent = m.period.from + " to " + m.period.to + " (before: " + m.previous_period.from +
    " to " + m.previous_period.to + ", " + m.time_zone + ")";
  northStar(m);
  connectors(operations);
  segments(m);
  journeys(m);
  document.body.addEventListener("click", (event) => {
    const target = event.target.closest("button[data-segment], button[data-profile], button[data-journey], button[data-failures]");
    if (!target) return;
    const d = target.dataset;
    if (d.segment) guarded(() => showSegment(d.segment));
    else if (d.profile) guarded(() => showProfile(d.profile));
    else if (d.journey) guarded(() => showJourney(d.journey, m));
    else guarded(() => showFailures(d.failures));
  });
  say("", false);
  document.body.dataset.ready = "true";
}));
