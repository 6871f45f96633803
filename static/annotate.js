// Akin annotator page: lease a pair, show it, send the answer with an idempotency key
// (resent unchanged after a network failure, so an answer is stored once), repeat.
"use strict";

const project = document.body.dataset.project;
const left = document.getElementById("left");
const right = document.getElementById("right");
const statusLine = document.getElementById("status");
const counter = document.getElementById("answered-count");
const buttons = Array.from(document.querySelectorAll("button[data-verdict]"));
const keys = { s: "same", d: "different", n: "not_sure" };

let current = null;
let sending = false;
let answered = 0;

function randomId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function annotatorId() {
  let id = localStorage.getItem("akin-annotator");
  if (!id) {
    id = randomId();
    localStorage.setItem("akin-annotator", id);
  }
  return id;
}

function setEnabled(enabled) {
  buttons.forEach((b) => { b.disabled = !enabled; });
}

async function loadNext() {
  setEnabled(false);
  const url = `/api/v1/projects/${encodeURIComponent(project)}/queries/next?annotator=${annotatorId()}`;
  try {
    const response = await fetch(url);
    if (response.status === 204) {
      current = null;
      statusLine.textContent = "No pair is waiting. New pairs come with the next round; checking again soon.";
      setTimeout(loadNext, 5000);
      return;
    }
    if (!response.ok) throw new Error(`server answered ${response.status}`);
    current = await response.json();
    current.key = randomId();
    left.src = current.item_a.image_url;
    right.src = current.item_b.image_url;
    statusLine.textContent = "";
    setEnabled(true);
  } catch (error) {
    statusLine.textContent = `Cannot load a pair (${error.message}); retrying.`;
    setTimeout(loadNext, 3000);
  }
}

async function send(verdict) {
  if (!current || sending) return;
  sending = true;
  setEnabled(false);
  const body = JSON.stringify({
    query_id: current.query_id,
    verdict,
    idempotency_key: current.key,
    annotator: annotatorId(),
  });
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const response = await fetch("/api/v1/answers", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
      });
      if (response.ok || response.status === 409) {
        if (response.ok) {
          answered += 1;
          counter.textContent = String(answered);
        } else {
          statusLine.textContent = "Someone else answered that pair first.";
        }
        break;
      }
      throw new Error(`server answered ${response.status}`);
    } catch (error) {
      statusLine.textContent = `Could not send the answer (${error.message}); retrying.`;
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
    }
  }
  sending = false;
  loadNext();
}

buttons.forEach((button) => button.addEventListener("click", () => send(button.dataset.verdict)));
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const verdict = keys[event.key.toLowerCase()];
  if (verdict) send(verdict);
});

loadNext();
