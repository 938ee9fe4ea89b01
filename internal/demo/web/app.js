// The pushpoll demo page. It does what an app does when it adopts pushpoll:
// render its data from its own endpoint, then hand its poll to the shim
// (the global PushPoll from /pushpoll.js), and otherwise only show what the
// shim is doing. Plain script with no build step, so it reads as an example.
(function () {
  "use strict";

  var TOPIC = "board:demo";
  // The log is a glance at recent activity, not a history.
  var LOG_MAX = 14;
  // A hinted poll waits a random 0..JITTER ms. Half a second keeps the
  // update quick to see while still showing that tabs do not all poll in
  // the same millisecond.
  var JITTER = 500;

  var body = document.body;
  var fast = Number(body.getAttribute("data-fast")) || 5000;
  var slow = Number(body.getAttribute("data-slow")) || 60000;
  var loadedAt = Date.now();

  var state = {
    version: -1, // board version on screen; -1 before the first fetch
    cards: new Map(), // card id -> {card, el: {root, count, meta}}
    polls: 0,
    hints: 0,
    lastChanged: null, // cards the latest poll brought, for its log line
    pp: null,
  };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- the app's own data ---------------------------------------------------

  async function fetchBoard() {
    var res = await fetch("/demo/api/board", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error("board: HTTP " + res.status);
    var board = await res.json();
    // Staleness is measured on the server's clock (board.now - bumpedAt)
    // plus the time this page takes from the answer to the screen, so a
    // skewed client clock cannot distort it.
    board.receivedAt = Date.now();
    return board;
  }

  function createCard(card) {
    var root = el("article", "card");
    root.setAttribute("data-id", card.id);
    var count = el("div", "count");
    count.setAttribute("data-count", card.id);
    var meta = el("div", "meta");
    var button = el("button", "", "Bump");
    button.type = "button";
    button.setAttribute("data-card", card.id);
    button.addEventListener("click", function () {
      bump(card.id);
    });
    root.append(el("h3", "", card.title), count, meta, button);
    $("cards").append(root);
    return { root: root, count: count, meta: meta };
  }

  function ago(ms) {
    if (ms < 1500) return "just now";
    var s = Math.round(ms / 1000);
    if (s < 90) return s + " s ago";
    var m = Math.round(s / 60);
    return m < 90 ? m + " min ago" : Math.round(m / 60) + " h ago";
  }

  function updateMeta(entry, board) {
    var c = entry.card;
    if (!c.bumpedAt) {
      entry.el.meta.textContent = "never bumped";
      return;
    }
    // Server-clock age at the snapshot plus local time since it arrived.
    var age = board.now - c.bumpedAt + (Date.now() - board.receivedAt);
    entry.el.meta.textContent = "v" + c.version + " · bumped " + ago(Math.max(0, age));
    entry.board = board;
  }

  function flash(root) {
    root.classList.remove("changed");
    // Reading layout restarts the CSS animation when a card changes twice in a row.
    void root.offsetWidth;
    root.classList.add("changed");
  }

  // render shows board (all cards, or only the ones given) and returns the
  // cards whose version is newer than what was on screen. source is "load",
  // "poll" or "bump" (this tab's own click).
  function render(board, source) {
    // A slow answer overtaken by a newer one must not roll the screen back.
    if (board.version < state.version) return [];
    var changed = [];
    board.cards.forEach(function (card) {
      var entry = state.cards.get(card.id);
      if (!entry) {
        entry = { card: card, el: createCard(card) };
        state.cards.set(card.id, entry);
      } else if (card.version > entry.card.version) {
        changed.push(card);
        flash(entry.el.root);
      }
      entry.card = card;
      entry.el.count.textContent = String(card.count);
      updateMeta(entry, board);
    });
    state.version = board.version;
    $("board-version").textContent = String(board.version);
    // Staleness answers "how long did a change made elsewhere take to reach
    // this screen", so this tab's own clicks do not count.
    if (source === "poll" && changed.length) {
      var newest = changed.reduce(function (a, b) {
        return b.bumpedAt > a.bumpedAt ? b : a;
      });
      var staleness = board.now - newest.bumpedAt + (Date.now() - board.receivedAt);
      $("staleness").textContent = String(Math.max(0, Math.round(staleness)));
    }
    return changed;
  }

  // poll is the app's poll as the shim sees it: fetch, render, and say which
  // version is now on screen.
  async function poll() {
    state.lastChanged = null;
    var board = await fetchBoard();
    state.lastChanged = render(board, "poll");
    var out = {};
    out[TOPIC] = state.version;
    return out;
  }

  async function bump(id) {
    var title = state.cards.has(id) ? state.cards.get(id).card.title : id;
    try {
      var res = await fetch("/demo/api/bump", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ card: id }),
      });
      var out = await res.json().catch(function () {
        return {};
      });
      if (!res.ok) throw new Error(out.error || "HTTP " + res.status);
      log(
        "bump",
        title + " → " + out.card.count + " (board v" + out.version + ")" +
          (out.published ? "" : "; the notifier was not told, so other tabs see it at their next poll")
      );
      // Show our own change now rather than after our own hint and poll.
      // That is only right when it is the very next version after the one on
      // screen: otherwise someone else changed the board too, and the hint's
      // poll brings everything.
      if (out.version === state.version + 1) {
        out.receivedAt = Date.now();
        render({ version: out.version, now: out.now, receivedAt: out.receivedAt, cards: [out.card] }, "bump");
        // The shim then ignores the hint for this version: nothing to poll.
        if (state.pp) state.pp.setVersion(TOPIC, out.version);
      }
    } catch (err) {
      log("error", "bump " + title + ": " + message(err));
    }
  }

  // ---- the status panel -------------------------------------------------------

  function message(err) {
    return (err && err.message) || String(err);
  }

  function log(kind, text) {
    var li = el("li");
    var now = new Date();
    li.append(
      el("time", "", now.toTimeString().slice(0, 8)),
      el("span", "tag tag-" + kind, kind),
      el("span", "msg", text)
    );
    var list = $("log");
    list.prepend(li);
    while (list.children.length > LOG_MAX) list.lastChild.remove();
  }

  function secs(ms) {
    return ms / 1000 + " s";
  }

  var MODE_NOTES = {
    push: function () {
      return "hints trusted; safety-net poll every " + secs(slow);
    },
    poll: function () {
      return "push not trusted (yet): polling every " + secs(fast) + ", as before pushpoll";
    },
    shadow: function () {
      return "polling every " + secs(fast) + " while checking that hints come first";
    },
    off: function () {
      return "no push connection: polling every " + secs(fast);
    },
  };

  function setMode(mode) {
    var badge = $("mode");
    badge.textContent = mode;
    badge.setAttribute("data-mode", mode);
    $("mode-note").textContent = MODE_NOTES[mode] ? MODE_NOTES[mode]() : "";
  }

  // tick refreshes what time alone changes: the pure-polling count the
  // ratio compares against, and the cards' "bumped … ago".
  function tick() {
    var pure = Math.floor((Date.now() - loadedAt) / fast);
    $("polls").textContent = String(state.polls);
    $("pure-polls").textContent = String(pure);
    $("ratio").textContent = pure > 0 ? Math.round((100 * state.polls) / pure) + "%" : "–";
    $("hints").textContent = String(state.hints);
    state.cards.forEach(function (entry) {
      if (entry.board) updateMeta(entry, entry.board);
    });
  }

  // ---- the shim's callbacks ---------------------------------------------------

  function onPoll(info) {
    state.polls++;
    tick();
    if (!info.ok) {
      log("poll", "(" + info.reason + ") failed; retrying in " + secs(fast));
      return;
    }
    var changed = state.lastChanged || [];
    var what = changed.length
      ? changed
          .map(function (c) {
            return c.title;
          })
          .join(", ") + " changed"
      : "no change";
    log("poll", "(" + info.reason + ") v" + info.versions[TOPIC] + ": " + what);
  }

  function onHint(topic, version) {
    state.hints++;
    tick();
    // The shim decides whether and when to poll; this only says why it
    // would. A hint for this tab's own bump often arrives before the bump's
    // answer, and the poll it would cause is dropped once setVersion runs.
    var note;
    if (version === 0) note = "version unknown: poll to be sure";
    else if (version <= state.version) note = "already on screen: no poll";
    else note = "newer than v" + state.version + " on screen";
    if (note.indexOf("no poll") < 0 && document.hidden) note += "; tab hidden, polls when shown";
    log("hint", topic + " v" + version + ": " + note);
  }

  function onMode(mode) {
    setMode(mode);
    log("mode", mode);
  }

  function fetchToken() {
    return fetch("/demo/api/token", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("token: HTTP " + r.status);
      return r.text();
    });
  }

  // ---- start --------------------------------------------------------------------

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  // pollForever is what the page falls back to when the shim did not load:
  // plain polling, which is all the app did before pushpoll.
  async function pollForever() {
    for (;;) {
      await sleep(fast);
      var ok = true;
      try {
        await poll();
      } catch (err) {
        ok = false;
      }
      var versions = {};
      versions[TOPIC] = state.version;
      onPoll({ reason: "timer", ok: ok, versions: versions });
    }
  }

  async function main() {
    setInterval(tick, 1000);
    // The shim does not poll at start (the page is expected to hold data
    // already), so the first render comes from this fetch; it also gives the
    // version to subscribe with.
    for (;;) {
      try {
        var board = await fetchBoard();
        render(board, "load");
        log("poll", "initial load: board v" + board.version);
        break;
      } catch (err) {
        log("error", message(err) + "; retrying in " + secs(fast));
        await sleep(fast);
      }
    }
    if (typeof PushPoll === "undefined") {
      setMode("off");
      log("error", "/pushpoll.js did not load; plain polling every " + secs(fast));
      pollForever();
      return;
    }
    var topics = {};
    topics[TOPIC] = state.version;
    state.pp = PushPoll.start({
      url: location.origin,
      token: fetchToken,
      topics: topics,
      poll: poll,
      fast: fast,
      slow: slow,
      jitter: JITTER,
      onMode: onMode,
      onHint: onHint,
      onPoll: onPoll,
      onError: function (err) {
        log("error", message(err));
        console.warn("pushpoll:", err);
      },
    });
    setMode(state.pp.mode);
    log("mode", state.pp.mode + " (starting)");
  }

  main();
})();
