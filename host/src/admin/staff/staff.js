// The counter page: asks /api/cues for the customer typed in and shows the answer. Every value is
// set as text (textContent), never as markup.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("lookup");
  const input = document.getElementById("identity");
  const status = document.getElementById("status");
  const result = document.getElementById("result");
  const name = document.getElementById("name");
  const list = document.getElementById("cues");
  const footer = document.getElementById("footer");

  const say = (text, isError) => {
    status.textContent = text;
    status.className = isError ? "error" : "";
  };

  const show = (answer) => {
    name.textContent = answer.first_name || "Customer";
    list.replaceChildren(...answer.cues.map((cue) => {
      const item = document.createElement("li");
      item.className = "cue cue-" + String(cue.kind).replace(/[^a-z_]/g, "");
      item.dataset.kind = cue.kind;
      item.textContent = cue.text;
      return item;
    }));
    if (answer.cues.length === 0) {
      const item = document.createElement("li");
      item.className = "cue";
      item.textContent = "Nothing to mention yet: say hello!";
      list.append(item);
    }
    footer.textContent = answer.receipt_footer.join("\n");
    result.hidden = false;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const identity = input.value.trim();
    if (!identity) return;
    result.hidden = true;
    say("Looking up\u2026", false);
    let response;
    try {
      response = await fetch("/api/cues?identity=" + encodeURIComponent(identity), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (e) {
      say("rapport cannot be reached: check the connection and try again.", true);
      return;
    }
    if (response.status === 401) {
      window.location.assign("/login?next=/staff");
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(answer.error || "The lookup failed (" + response.status + ").", true);
      return;
    }
    say("", false);
    show(answer);
  });
});
