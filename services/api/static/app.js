// docenrich — the page to try a document. Vanilla JS, no build step, no CDN.
//
// Offsets from the API are Unicode code points (Python string indices); JavaScript
// strings are UTF-16. Every slice of the document goes through codePointIndex(), so a
// character outside the BMP (emoji, 𝒳, rare CJK) before an entity does not shift it.
"use strict";

(() => {
  const FINAL_JOB = new Set(["succeeded", "partially_succeeded", "failed", "cancelled"]);
  const TASKS = { language: "Language", entities: "Named entities", summary: "Summary" };
  const LABEL_NAMES = { PER: "Person", ORG: "Organization", LOC: "Location", MISC: "Other" };
  const LABEL_ORDER = ["PER", "ORG", "LOC", "MISC"];
  const STATUS_WORDS = {
    pending: "waiting",
    running: "running…",
    succeeded: "done",
    failed: "failed",
    skipped: "skipped",
    cancelled: "cancelled",
  };
  // Right-to-left by script first (Kurdish, Punjabi… are written in both), then by code.
  const RTL_SCRIPTS = new Set(["Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg", "Mand", "Samr"]);
  const LTR_SCRIPTS_HINT = new Set(["Latn", "Cyrl", "Grek", "Armn", "Geor", "Deva", "Hani", "Hang", "Jpan", "Kore", "Thai", "Ethi"]);
  const RTL_CODES = new Set([
    "ar", "arz", "ary", "arq", "apc", "acm", "fa", "prs", "pes", "ur", "he", "iw", "yi", "ji", "ps", "pbt",
    "sd", "ug", "dv", "ckb", "azb", "ks", "pnb", "skr", "mzn", "glk", "lrc", "bal", "bqi", "syr", "nqo",
  ]);
  const POLL_MAX_DELAY_MS = 2000;
  const SSE_SILENCE_MS = 45000; // no job event this long (keepalive comments fire none): poll instead
  const KEY_STORAGE = "docenrich.apiKey";

  const $ = (selector) => document.querySelector(selector);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function meta(name, fallback) {
    const el = document.querySelector(`meta[name="${name}"]`);
    const value = el ? el.getAttribute("content") : "";
    return value && !value.startsWith("{{") ? value : fallback;
  }
  const LIMITS = {
    uploadBytes: Number(meta("docenrich-max-upload-bytes", "10485760")),
    textChars: Number(meta("docenrich-max-text-chars", "1000000")),
    authRequired: meta("docenrich-auth-required", "false") === "true",
  };

  // ---- text offsets -----------------------------------------------------------------

  /** Map code-point index -> UTF-16 index: u16[i] is where code point i starts; u16[length] is text.length. */
  function codePointIndex(text) {
    const u16 = new Uint32Array(text.length + 1);
    let cp = 0;
    for (let i = 0; i < text.length; i++) {
      u16[cp++] = i;
      const c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) i++;
      }
    }
    u16[cp] = text.length;
    return { u16, length: cp, slice: (start, end) => text.slice(u16[start], u16[end]) };
  }

  /** "rtl", "ltr" or null (unknown) for a language result {code, script}. */
  function directionFor(language) {
    if (!language) return null;
    const parts = String(language.code || "").split(/[-_]/);
    const code = parts[0].toLowerCase();
    const script = language.script || parts.find((p) => /^[A-Z][a-z]{3}$/.test(p)) || null;
    if (script && RTL_SCRIPTS.has(script)) return "rtl";
    if (script && LTR_SCRIPTS_HINT.has(script)) return "ltr";
    if (RTL_CODES.has(code)) return "rtl";
    return code ? "ltr" : null;
  }

  // ---- HTTP -------------------------------------------------------------------------

  class PageError extends Error {
    constructor(title, detail, { code = "", status = 0, retryAfter = null } = {}) {
      super(`${title} ${detail || ""}`.trim());
      this.title = title;
      this.detail = detail || "";
      this.code = code;
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  function apiKey() {
    return ($("#api-key").value || "").trim();
  }

  function retryAfterSeconds(response) {
    const value = response.headers.get("Retry-After");
    if (!value) return null;
    const seconds = Number(value);
    if (Number.isFinite(seconds)) return Math.max(1, Math.round(seconds));
    const date = Date.parse(value);
    return Number.isNaN(date) ? null : Math.max(1, Math.round((date - Date.now()) / 1000));
  }

  function describeFailure(status, code, message, retryAfter) {
    const again = retryAfter ? ` Try again in ${retryAfter} second${retryAfter === 1 ? "" : "s"}.` : " Try again shortly.";
    const opts = { code, status, retryAfter };
    switch (status) {
      case 400:
        return new PageError("The request could not be read.", message, opts);
      case 401:
        return code === "invalid_api_key"
          ? new PageError("The API key is not valid.", "Check the key in the API key field.", opts)
          : new PageError("This service needs an API key.", "Enter your key in the API key field and submit again.", opts);
      case 404:
        return new PageError("Not found.", message || "The job may have expired or belong to another API key.", opts);
      case 413:
        return new PageError("The document is too large.", message, opts);
      case 415:
        return new PageError(
          "This type of file is not supported.",
          `${message ? message + " " : ""}Send a .txt (any encoding), .html, .pdf, .docx or .md file, or paste the text.`,
          opts,
        );
      case 422:
        return new PageError("The document could not be processed.", message, opts);
      case 429:
        return new PageError("Too many documents in a short time.", `${message ? message + " " : ""}${again}`.trim(), opts);
      case 503:
        return new PageError("The service is busy.", `${message ? message + " " : ""}${again}`.trim(), opts);
      default:
        return new PageError(
          status >= 500 ? "Something went wrong on the server." : `The request failed (HTTP ${status}).`,
          message || "Try again, and report it if it keeps happening.",
          opts,
        );
    }
  }

  async function failureFrom(response) {
    let code = "";
    let message = "";
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || "";
        message = body.error.message || "";
      }
    } catch (_) {
      /* not our JSON error shape (a proxy page?): say what we know */
    }
    return describeFailure(response.status, code, message, retryAfterSeconds(response));
  }

  async function api(path, { method = "GET", body = undefined, headers = {} } = {}) {
    const h = new Headers(headers);
    const key = apiKey();
    if (key) h.set("Authorization", `Bearer ${key}`);
    let response;
    try {
      response = await fetch(path, { method, body, headers: h, cache: "no-store", credentials: "same-origin" });
    } catch (_) {
      throw new PageError(
        "The service could not be reached.",
        "Check that docenrich is running and the connection works, then try again.",
        { code: "network_error" },
      );
    }
    if (!response.ok) throw await failureFrom(response);
    return response;
  }

  async function fetchText(jobId) {
    const response = await api(`/v1/jobs/${encodeURIComponent(jobId)}/text`);
    // Decode ourselves: response.text() would drop a leading BOM, and U+FEFF is a code
    // point the offsets count.
    const bytes = await response.arrayBuffer();
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  }

  // ---- watching a job: server-sent events, or polling ---------------------------------

  /** Resolves with the final job, or null when the stream is unavailable/ended early. */
  function watchEvents(jobId, onJob) {
    return new Promise((resolve) => {
      let source;
      try {
        source = new EventSource(`/v1/jobs/${encodeURIComponent(jobId)}/events`);
      } catch (_) {
        resolve(null);
        return;
      }
      let last = null;
      let done = false;
      let watchdog = null;
      const finish = (value) => {
        if (done) return;
        done = true;
        clearTimeout(watchdog);
        source.close();
        resolve(value);
      };
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish(null), SSE_SILENCE_MS);
      };
      arm();
      const onJobEvent = (event) => {
        let job;
        try {
          job = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        last = job;
        arm();
        onJob(job);
        if (FINAL_JOB.has(job.status)) finish(job);
      };
      source.addEventListener("job", onJobEvent);
      source.addEventListener("end", onJobEvent);
      // Fires when the server closes the stream, cannot open it (404, no such route) or
      // sends `event: error`: the last job tells whether it had ended; if not, poll.
      source.onerror = () => finish(last && FINAL_JOB.has(last.status) ? last : null);
    });
  }

  async function pollJob(jobId, onJob) {
    let delay = 300;
    let networkFailures = 0;
    for (;;) {
      let job;
      try {
        job = await (await api(`/v1/jobs/${encodeURIComponent(jobId)}`)).json();
        networkFailures = 0;
      } catch (err) {
        if (err instanceof PageError && (err.status === 429 || err.status === 503)) {
          setJobLine(`${err.title} Checking again in ${err.retryAfter || 5} s…`);
          await sleep((err.retryAfter || 5) * 1000);
          continue;
        }
        if (err instanceof PageError && err.code === "network_error" && ++networkFailures < 5) {
          await sleep(1000 * networkFailures);
          continue;
        }
        throw err;
      }
      onJob(job);
      if (FINAL_JOB.has(job.status)) return job;
      await sleep(delay);
      delay = Math.min(Math.round(delay * 1.3), POLL_MAX_DELAY_MS);
    }
  }

  async function watchJob(jobId, onJob) {
    // EventSource cannot send an Authorization header, and a key must not go in a URL:
    // with a key, poll.
    if (!apiKey() && typeof EventSource === "function") {
      const job = await watchEvents(jobId, onJob);
      if (job) {
        $("#result").dataset.transport = "events";
        return job;
      }
    }
    $("#result").dataset.transport = "polling";
    return pollJob(jobId, onJob);
  }

  // ---- progress -----------------------------------------------------------------------

  let startedAt = 0;

  function setJobLine(text) {
    $("#job-line").textContent = text;
  }

  function taskErrorText(state) {
    const err = state && state.error;
    if (!err) return "";
    if (typeof err === "string") return err;
    if (err.code === "no_model_for_language") return err.message || "No entity model for this language yet.";
    return err.message || err.code || "";
  }

  function showProgress(job) {
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    const status = job.status.replace("_", " ");
    setJobLine(`Job ${job.id}: ${status} (${seconds} s)`);
    const list = $("#task-list");
    for (const [name, state] of Object.entries(job.tasks || {})) {
      let item = list.querySelector(`li[data-task="${name}"]`);
      if (!item) {
        item = document.createElement("li");
        item.dataset.task = name;
        item.innerHTML = '<span class="task-name"></span> <span class="task-status"></span> <span class="task-detail"></span>';
        item.querySelector(".task-name").textContent = TASKS[name] || name;
        list.append(item);
      }
      if (item.dataset.status !== state.status) {
        item.dataset.status = state.status;
        item.querySelector(".task-status").textContent = STATUS_WORDS[state.status] || state.status;
      }
      item.querySelector(".task-detail").textContent = taskErrorText(state);
    }
  }

  // ---- rendering the result -----------------------------------------------------------

  function validSpans(items, length) {
    const spans = items
      .filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end) && s.start >= 0 && s.end <= length && s.start < s.end)
      .sort((a, b) => a.start - b.start || b.end - a.end);
    const out = [];
    let end = 0;
    for (const span of spans) {
      if (span.start >= end) {
        out.push(span);
        end = span.end;
      }
    }
    return out;
  }

  /** Sentence ranges minus any entity that crosses a sentence edge, so a <mark> is never split. */
  function sentencePieces(sentences, entities) {
    const pieces = [];
    for (const sentence of sentences) {
      let start = sentence.start;
      for (const e of entities) {
        if (e.end <= sentence.start || e.start >= sentence.end) continue;
        const crosses = e.start < sentence.start || e.end > sentence.end;
        if (!crosses) continue;
        if (e.start > start) pieces.push({ ...sentence, start, end: e.start });
        start = Math.max(start, e.end);
      }
      if (start < sentence.end) pieces.push({ ...sentence, start, end: sentence.end });
    }
    return pieces;
  }

  function markFor(entity, slice) {
    const mark = document.createElement("mark");
    mark.dataset.label = entity.label;
    mark.dataset.start = String(entity.start);
    mark.dataset.end = String(entity.end);
    const name = LABEL_NAMES[entity.label] || entity.label;
    const score = typeof entity.score === "number" ? `, score ${entity.score.toFixed(2)}` : "";
    mark.title = `${name} (${entity.label})${score}`;
    mark.textContent = slice(entity.start, entity.end);
    return mark;
  }

  /** Fill `container` with the text, <mark>s for entities and data-summary spans for sentences. */
  function renderDocument(container, text, entities, sentences) {
    const index = codePointIndex(text);
    const ents = validSpans(entities, index.length);
    const sents = validSpans(sentences, index.length);
    const pieces = sentencePieces(sents, ents);
    const frag = document.createDocumentFragment();
    let next = 0; // index into ents

    const appendRange = (parent, from, to) => {
      let pos = from;
      while (next < ents.length && ents[next].end <= to) {
        const e = ents[next++];
        if (e.start < pos) continue;
        if (e.start > pos) parent.append(index.slice(pos, e.start));
        parent.append(markFor(e, index.slice));
        pos = e.end;
      }
      if (to > pos) parent.append(index.slice(pos, to));
    };

    let pos = 0;
    for (const piece of pieces) {
      appendRange(frag, pos, piece.start);
      const span = document.createElement("span");
      span.className = "summary-sentence";
      span.dataset.summary = String(piece.rank);
      span.dataset.start = String(piece.start);
      span.dataset.end = String(piece.end);
      span.tabIndex = -1;
      span.title = `Summary sentence ${piece.rank + 1}`;
      appendRange(span, piece.start, piece.end);
      frag.append(span);
      pos = piece.end;
    }
    appendRange(frag, pos, index.length);
    container.replaceChildren(frag);
    return { entities: ents, sentences: sents, index };
  }

  function groupsOf(result, entities) {
    if (result && Array.isArray(result.groups) && result.groups.length) return result.groups;
    const byKey = new Map();
    for (const e of entities) {
      const key = `${e.label}\u0000${e.text}`;
      if (!byKey.has(key)) byKey.set(key, { text: e.text, label: e.label, count: 0, mentions: [] });
      const group = byKey.get(key);
      group.count += 1;
      group.mentions.push([e.start, e.end]);
    }
    return [...byKey.values()].sort((a, b) => b.count - a.count);
  }

  function renderLegend(counts, hasSummary) {
    const legend = $("#legend");
    legend.replaceChildren();
    const labels = [...LABEL_ORDER, ...Object.keys(counts).filter((l) => !LABEL_ORDER.includes(l))];
    for (const label of labels) {
      if (!counts[label] && !LABEL_ORDER.includes(label)) continue;
      const item = document.createElement("span");
      item.className = "legend-item";
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.dataset.legend = label;
      swatch.textContent = label;
      item.append(swatch, ` ${LABEL_NAMES[label] || label} (${counts[label] || 0})`);
      legend.append(item);
    }
    if (hasSummary) {
      const item = document.createElement("span");
      item.className = "legend-item";
      const swatch = document.createElement("span");
      swatch.className = "swatch summary-swatch";
      swatch.textContent = "Aa";
      item.append(swatch, " Summary sentence");
      legend.append(item);
    }
  }

  function announce(text) {
    $("#announce").textContent = text;
  }

  /** The group's text is a normalised key (case-folded, clitics or diacritics removed):
   * show it when a mention reads exactly so, else the most frequent mention as written. */
  function displayName(group, markByOffsets) {
    const counts = new Map();
    for (const [s, e] of group.mentions || []) {
      const mark = markByOffsets.get(`${s}:${e}`);
      if (mark) counts.set(mark.textContent, (counts.get(mark.textContent) || 0) + 1);
    }
    if (!counts.size || counts.has(group.text)) return group.text;
    return [...counts.entries()].reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
  }

  function renderEntityList(groups, markByOffsets, state) {
    const out = $("#entities-out");
    out.replaceChildren();
    if (!state || state.status !== "succeeded") {
      const p = document.createElement("p");
      p.className = "muted";
      p.dir = "auto";
      p.textContent = state ? `${STATUS_WORDS[state.status] || state.status}${taskErrorText(state) ? ": " + taskErrorText(state) : ""}` : "Not requested.";
      out.append(p);
      return;
    }
    if (!groups.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.dir = "auto";
      p.textContent = "No entities found.";
      out.append(p);
      return;
    }
    const byLabel = new Map();
    for (const group of groups) {
      if (!byLabel.has(group.label)) byLabel.set(group.label, []);
      byLabel.get(group.label).push(group);
    }
    const labels = [...byLabel.keys()].sort((a, b) => {
      const ia = LABEL_ORDER.indexOf(a) === -1 ? 99 : LABEL_ORDER.indexOf(a);
      const ib = LABEL_ORDER.indexOf(b) === -1 ? 99 : LABEL_ORDER.indexOf(b);
      return ia - ib || a.localeCompare(b);
    });
    let active = null;
    const select = (button, group) => {
      for (const lit of document.querySelectorAll("#document mark.lit")) lit.classList.remove("lit");
      if (active) active.setAttribute("aria-pressed", "false");
      if (active === button) {
        active = null;
        announce("No entity selected.");
        return;
      }
      active = button;
      button.setAttribute("aria-pressed", "true");
      const marks = group.mentions.map(([s, e]) => markByOffsets.get(`${s}:${e}`)).filter(Boolean);
      for (const mark of marks) mark.classList.add("lit");
      if (marks[0]) marks[0].scrollIntoView({ block: "center", behavior: "smooth" });
      announce(`${marks.length} mention${marks.length === 1 ? "" : "s"} of “${group.text}” highlighted.`);
    };
    for (const label of labels) {
      const section = document.createElement("section");
      section.className = "entity-group";
      const heading = document.createElement("h4");
      const list = byLabel.get(label);
      const total = list.reduce((n, g) => n + g.count, 0);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.dataset.legend = label;
      swatch.textContent = label;
      heading.append(swatch, ` ${LABEL_NAMES[label] || label} — ${list.length} distinct, ${total} mention${total === 1 ? "" : "s"}`);
      heading.dir = "ltr";
      const ul = document.createElement("ul");
      for (const group of list) {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "entity-button";
        button.dataset.label = group.label;
        button.setAttribute("aria-pressed", "false");
        const name = document.createElement("bdi");
        const shown = displayName(group, markByOffsets);
        name.textContent = shown;
        button.dataset.group = group.text;
        if (shown !== group.text) button.title = group.text;
        const count = document.createElement("span");
        count.className = "count";
        count.textContent = `×${group.count}`;
        count.setAttribute("aria-label", `${group.count} mention${group.count === 1 ? "" : "s"}`);
        button.append(name, " ", count);
        button.addEventListener("click", () => select(button, group));
        group.button = button;
        li.append(button);
        ul.append(li);
      }
      section.append(heading, ul);
      out.append(section);
    }
    // A click on a highlight in the text selects its entity in the list.
    const groupByOffsets = new Map();
    for (const group of groups) for (const [s, e] of group.mentions) groupByOffsets.set(`${s}:${e}`, group);
    $("#document").onclick = (event) => {
      const mark = event.target.closest("mark[data-start]");
      if (!mark) return;
      const group = groupByOffsets.get(`${mark.dataset.start}:${mark.dataset.end}`);
      if (group && group.button) select(group.button, group);
    };
  }

  function renderSummaryList(sentences, state, slice) {
    const out = $("#summary-out");
    out.replaceChildren();
    if (!state || state.status !== "succeeded") {
      const p = document.createElement("p");
      p.className = "muted";
      p.dir = "auto";
      p.textContent = state ? `${STATUS_WORDS[state.status] || state.status}${taskErrorText(state) ? ": " + taskErrorText(state) : ""}` : "Not requested.";
      out.append(p);
      return;
    }
    if (!sentences.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.dir = "auto";
      p.textContent = "No summary sentences.";
      out.append(p);
      return;
    }
    const ol = document.createElement("ol");
    ol.className = "summary-list";
    for (const sentence of [...sentences].sort((a, b) => a.start - b.start)) {
      const li = document.createElement("li");
      li.dir = "auto";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.dataset.summaryRef = String(sentence.rank);
      button.textContent = slice(sentence.start, sentence.end).trim();
      if (typeof sentence.score === "number") button.title = `Score ${sentence.score.toFixed(3)} — show in the text`;
      button.addEventListener("click", () => {
        const target = document.querySelector(`#document [data-summary="${sentence.rank}"]`);
        if (!target) return;
        target.scrollIntoView({ block: "center", behavior: "smooth" });
        target.focus({ preventScroll: true });
      });
      li.append(button);
      ol.append(li);
    }
    out.append(ol);
  }

  function renderLanguage(state, hint) {
    const out = $("#language-out");
    out.replaceChildren();
    if (!state) {
      out.textContent = hint ? `Given: ${hint} (not detected).` : "Not requested.";
      return;
    }
    if (state.status !== "succeeded" || !state.result) {
      out.textContent = `${STATUS_WORDS[state.status] || state.status}${taskErrorText(state) ? ": " + taskErrorText(state) : ""}`;
      return;
    }
    const r = state.result;
    const strong = document.createElement("strong");
    strong.textContent = `${r.name || r.code} (${r.code})`;
    const confidence = typeof r.confidence === "number" ? ` — ${(r.confidence * 100).toFixed(1)}% confidence` : "";
    const script = r.script ? `, script ${r.script}` : "";
    out.append(strong, `${confidence}${script}`);
    out.dataset.code = r.code || "";
    const alternatives = (r.alternatives || []).filter((a) => a.code !== r.code).slice(0, 3);
    if (alternatives.length) {
      const small = document.createElement("span");
      small.className = "muted block";
      small.textContent = "Also possible: " + alternatives.map((a) => `${a.code} ${(a.confidence * 100).toFixed(1)}%`).join(", ");
      out.append(small);
    }
  }

  /** Render a finished job over its text. Exposed for tests as window.docenrich.render. */
  function render(text, job) {
    const tasks = job.tasks || {};
    const langState = tasks.language;
    const detected = langState && langState.status === "succeeded" ? langState.result : null;
    const language = detected || (job.language ? { code: job.language } : null);
    const dir = directionFor(language) || "auto";
    const result = $("#result");
    result.dir = dir;
    const doc = $("#document");
    if (language && language.code) doc.lang = language.code;
    else doc.removeAttribute("lang");

    const entState = tasks.entities;
    const sumState = tasks.summary;
    const entities = entState && entState.status === "succeeded" && entState.result ? entState.result.entities || [] : [];
    const rawSentences = sumState && sumState.status === "succeeded" && sumState.result ? sumState.result.sentences || [] : [];
    // Rank = position in the summary as the engine ordered it.
    const sentences = rawSentences.map((s, rank) => ({ ...s, rank }));
    const shown = renderDocument(doc, text, entities, sentences);

    const markByOffsets = new Map();
    const counts = {};
    for (const mark of doc.querySelectorAll("mark[data-start]")) {
      markByOffsets.set(`${mark.dataset.start}:${mark.dataset.end}`, mark);
      counts[mark.dataset.label] = (counts[mark.dataset.label] || 0) + 1;
    }
    renderLegend(counts, shown.sentences.length > 0);
    renderLanguage(langState, job.language);
    renderSummaryList(shown.sentences, sumState, shown.index.slice);
    renderEntityList(groupsOf(entState && entState.result, shown.entities), markByOffsets, entState);
    result.hidden = false;
    return { marks: markByOffsets.size, sentences: shown.sentences.length, dir };
  }

  // ---- errors -------------------------------------------------------------------------

  function showError(err) {
    const box = $("#error");
    box.replaceChildren();
    const title = document.createElement("strong");
    const detail = document.createElement("span");
    if (err instanceof PageError) {
      title.textContent = err.title;
      detail.textContent = err.detail ? ` ${err.detail}` : "";
      box.dataset.code = err.code || "";
      box.dataset.status = err.status ? String(err.status) : "";
    } else {
      title.textContent = "Something went wrong in this page.";
      detail.textContent = ` ${err && err.message ? err.message : String(err)}. Reload and try again.`;
      box.dataset.code = "page_error";
      box.dataset.status = "";
    }
    box.append(title, detail);
    box.hidden = false;
    box.focus();
  }

  function clearError() {
    const box = $("#error");
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.code;
    delete box.dataset.status;
  }

  // ---- the form -----------------------------------------------------------------------

  function formatBytes(n) {
    if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1).replace(/\.0$/, "")} MB`;
    if (n >= 1024) return `${Math.round(n / 1024)} KB`;
    return `${n} bytes`;
  }

  function chosenTasks() {
    return [...document.querySelectorAll('input[name="tasks"]:checked')].map((el) => el.value);
  }

  /** A request body for POST /v1/documents, or a PageError saying what is wrong. */
  function buildRequest() {
    const tasks = chosenTasks();
    if (!tasks.length) {
      return new PageError("Choose at least one task.", "Language, named entities or summary.", { code: "no_tasks" });
    }
    const language = $("#language").value.trim();
    const file = $("#file").files[0];
    if (file) {
      if (file.size > LIMITS.uploadBytes) {
        return new PageError(
          "The file is too large.",
          `It has ${formatBytes(file.size)}; the limit is ${formatBytes(LIMITS.uploadBytes)}. Send a smaller file or split it.`,
          { code: "payload_too_large", status: 413 },
        );
      }
      if (file.size === 0) return new PageError("The file is empty.", "Choose a file with text in it.", { code: "empty_file" });
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("tasks", tasks.join(","));
      if (language) form.append("language", language);
      return { body: form, headers: {} };
    }
    const text = $("#text").value;
    if (!text.trim()) {
      return new PageError("There is nothing to enrich yet.", "Paste some text or choose a file.", { code: "empty_text" });
    }
    const chars = codePointIndex(text).length;
    if (chars > LIMITS.textChars) {
      return new PageError(
        "The text is too long.",
        `It has ${chars.toLocaleString("en")} characters; the limit is ${LIMITS.textChars.toLocaleString("en")}. Split the document.`,
        { code: "text_too_large", status: 413 },
      );
    }
    const body = JSON.stringify({ text, tasks, language: language || null });
    const size = new Blob([body]).size;
    if (size > LIMITS.uploadBytes) {
      return new PageError(
        "The text is too large.",
        `It takes ${formatBytes(size)} to send; the limit is ${formatBytes(LIMITS.uploadBytes)}. Split the document.`,
        { code: "payload_too_large", status: 413 },
      );
    }
    return { body, headers: { "Content-Type": "application/json" } };
  }

  function setBusy(busy) {
    $("#submit").disabled = busy;
    $("#doc-form").setAttribute("aria-busy", busy ? "true" : "false");
    $("#busy").hidden = !busy;
  }

  async function submit(event) {
    event.preventDefault();
    clearError();
    const request = buildRequest();
    if (request instanceof PageError) {
      showError(request);
      return;
    }
    const result = $("#result");
    setBusy(true);
    result.dataset.state = "running";
    result.hidden = true;
    delete result.dataset.jobId;
    $("#task-list").replaceChildren();
    $("#progress").hidden = false;
    setJobLine("Sending the document…");
    startedAt = performance.now();
    try {
      const accepted = await (await api("/v1/documents", { method: "POST", body: request.body, headers: request.headers })).json();
      result.dataset.jobId = accepted.id;
      showProgress(accepted);
      const job = FINAL_JOB.has(accepted.status) ? accepted : await watchJob(accepted.id, showProgress);
      showProgress(job);
      setJobLine(`Job ${job.id}: ${job.status.replace("_", " ")} in ${((performance.now() - startedAt) / 1000).toFixed(1)} s. Loading the text…`);
      const text = await fetchText(job.id);
      render(text, job);
      const summary = `Job ${job.id}: ${job.status.replace("_", " ")} in ${((performance.now() - startedAt) / 1000).toFixed(1)} s.`;
      setJobLine(job.status === "failed" ? `${summary} See the task errors above.` : summary);
      result.dataset.state = "done";
      result.dataset.jobStatus = job.status;
      $("#result-title").focus();
    } catch (err) {
      result.dataset.state = "error";
      setJobLine("Stopped.");
      showError(err);
    } finally {
      setBusy(false);
    }
  }

  function init() {
    $("#max-upload").textContent = formatBytes(LIMITS.uploadBytes);
    if (LIMITS.authRequired) $("#api-key-need").textContent = "(required by this server)";
    const keyInput = $("#api-key");
    try {
      keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
    } catch (_) {
      /* storage disabled: the field still works for this page */
    }
    keyInput.addEventListener("input", () => {
      try {
        if (keyInput.value.trim()) sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
        else sessionStorage.removeItem(KEY_STORAGE);
      } catch (_) {
        /* ignore */
      }
    });
    const fileInput = $("#file");
    const clearFile = $("#clear-file");
    fileInput.addEventListener("change", () => {
      clearFile.hidden = !fileInput.files.length;
      clearError();
    });
    clearFile.addEventListener("click", () => {
      fileInput.value = "";
      clearFile.hidden = true;
      fileInput.focus();
    });
    $("#text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        $("#doc-form").requestSubmit();
      }
    });
    $("#doc-form").addEventListener("submit", submit);
    // Whatever breaks, the person reads about it instead of facing a dead page.
    window.addEventListener("error", (event) => showError(event.error || new Error(event.message)));
    window.addEventListener("unhandledrejection", (event) => showError(event.reason));
    document.body.dataset.ready = "true";
  }

  window.docenrich = { render, codePointIndex, directionFor };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
