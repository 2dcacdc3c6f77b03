/* cellscope in the browser: the clientside callbacks named in viz/app (window.dash_clientside.cellscope) and
   the page's few delegated listeners (hover box, keyboard, excerpt clicks, page links).

   What the server sends (viz/app/browse.py):
   b-window {key, start, stop, total, html, marks, guesses, probs, loss}  once per (checkpoint, window):
       html is the window's uncoloured spans from viz.text_html (escaped there), inserted once as innerHTML;
       marks are [a, b) stretches to underline; guesses/probs (base64 uint8, p*255)/loss (base64 float32) feed
       the hover box.
   b-values {key, start, n, checkpoint, layer, cell, kind, label, lo, step, levels}  per cell switch:
       levels is base64, one byte per character, the colour level from viz.colors.quantize; each character's
       span gets the class "ch v<level>". Nothing else is sent to recolour.
   b-exact {key, values}  the cell's raw float32 values for the window, asked for (b-exact-req) on first hover.
   b-painted  set to "checkpoint|layer|cell|kind" once a new cell's colours are on screen: only then does the
       server send its histogram and strongest positions, so they never delay the recolouring.
   The text container gets data-window (the painted window's key) and data-painted (the painted values' key),
   which the tests and bench/dashboard_speed.py wait on. */
(function () {
  'use strict';
  const view = {win: null, vals: null, exact: null, asked: null, focus: null, hovered: null};
  const NO = () => window.dash_clientside.no_update;

  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const floats = b64 => new Float32Array(bytes(b64).buffer);
  const signed = (v, digits) => (v >= 0 ? '+' : '') + v.toFixed(digits);

  function paint(win, vals) {
    const box = document.getElementById('b-text');
    if (!box || !win) return;
    if (box.dataset.window !== win.key) {
      box.innerHTML = win.html;
      box._spans = Array.from(box.getElementsByClassName('ch'));
      box._base = box._spans.map(() => 'ch');
      for (const [a, b] of win.marks) for (let i = a; i < b; i++) box._base[i] = 'ch u';
      box._levels = new Uint8Array(box._spans.length).fill(255);  // the level each span shows; 255: none yet
      box._at = null;
      box.dataset.window = win.key;
      delete box.dataset.painted;
      box.scrollTop = 0;
      view.win = {start: win.start, stop: win.stop, guesses: win.guesses, probs: bytes(win.probs),
                  loss: floats(win.loss)};
    }
    if (vals && vals.start === win.start && vals.n === win.stop - win.start && box.dataset.painted !== vals.key) {
      const levels = bytes(vals.levels), shown = box._levels, spans = box._spans, base = box._base;
      for (let i = 0; i < levels.length; i++) {
        if (levels[i] !== shown[i]) spans[i].className = base[i] + ' v' + levels[i];
      }
      box._levels = levels;
      box.dataset.painted = vals.key;
      view.vals = vals;
      if (view.focus !== null) focus(box);
      const cell = [vals.checkpoint, vals.layer, vals.cell, vals.kind].join('|');
      if (cell !== box._cell) {
        box._cell = cell;  // the histogram and excerpts are asked for in the frame after the recoloured one
        requestAnimationFrame(() => requestAnimationFrame(() => {
          window.dash_clientside.set_props('b-painted', {data: cell});
        }));
      }
    }
  }

  /* Outline the character an excerpt pointed at and scroll it into view. */
  function focus(box) {
    const i = view.focus - view.win.start;
    view.focus = null;
    if (box._at !== null) {
      box._base[box._at] = box._base[box._at].replace(' at', '');
      box._spans[box._at].classList.remove('at');
    }
    const span = box._spans[i];
    if (!span) return;
    box._at = i;
    box._base[i] += ' at';
    span.classList.add('at');
    span.scrollIntoView({block: 'center'});
  }

  function tipBox() {
    let tip = document.getElementById('cs-tip');
    if (!tip) {
      tip = document.createElement('div');
      tip.id = 'cs-tip';
      tip.className = 'cs-tip';
      tip.hidden = true;
      document.body.appendChild(tip);
    }
    return tip;
  }

  function add(parent, tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined) el.textContent = text;
    parent.appendChild(el);
    return el;
  }

  /* Everything shown comes from data and goes in as textContent, never as HTML. */
  function showTip(span) {
    const win = view.win, box = document.getElementById('b-text');
    const pos = Number(span.dataset.i), i = pos - (win ? win.start : 0);
    if (!win || !box || i < 0 || i >= win.stop - win.start) return;
    const vals = view.vals && box.dataset.painted === view.vals.key ? view.vals : null;
    const tip = tipBox();
    tip.replaceChildren();
    add(tip, 'div', 'tip-head', '#' + pos + '  ' + span.textContent);
    if (vals) {
      const exact = view.exact && view.exact.key === vals.key ? view.exact.values[i] : null;
      let value;
      if (exact === null) {
        value = vals.label + ' ≈ ' + signed(vals.lo + (box._levels[i] + 0.5) * vals.step, 2);
        if (view.asked !== vals.key) {
          view.asked = vals.key;
          window.dash_clientside.set_props('b-exact-req', {data: {
            key: vals.key, checkpoint: vals.checkpoint, layer: vals.layer, cell: vals.cell, kind: vals.kind,
            start: vals.start, n: vals.n}});
        }
      } else if (vals.kind === 'c') {
        value = 'tanh(c) ' + signed(Math.tanh(exact), 3) + '   (c ' + signed(exact, 3) + ')';
      } else {
        value = vals.label + ' ' + signed(exact, 3);
      }
      add(tip, 'div', 'tip-value', 'cell ' + vals.layer + ':' + vals.cell + '  ' + value);
    }
    add(tip, 'div', 'tip-sub', 'guesses for the next character:');
    const next = box._spans[i + 1] ? box._spans[i + 1].textContent : null;
    const guesses = Array.from(win.guesses[i]);
    const table = add(tip, 'div', 'tip-guesses');
    guesses.forEach((g, k) => {
      const p = win.probs[i * 5 + k] / 255;
      const row = add(table, 'div', 'tip-guess' + (g === next ? ' hit' : ''));
      add(row, 'span', 'tip-char', g);
      add(add(row, 'span', 'tip-bar'), 'span', 'tip-fill').style.width = (100 * p).toFixed(0) + '%';
      add(row, 'span', 'tip-p', (100 * p).toFixed(0) + '%');
    });
    const loss = win.loss[i];
    if (!Number.isNaN(loss)) add(tip, 'div', 'tip-loss', 'loss ' + loss.toFixed(2) + ' nats (−log p of the actual next character)');
    tip.hidden = false;
    const r = span.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
    const x = Math.max(4, Math.min(r.left, window.innerWidth - w - 8));
    const y = r.bottom + h + 8 < window.innerHeight ? r.bottom + 6 : Math.max(4, r.top - h - 6);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }

  document.addEventListener('mouseover', function (e) {
    const t = e.target;
    const col = t.closest && t.closest('#b-text .col');
    const span = col ? col.querySelector('.ch') : t.closest && t.closest('#b-text .ch');
    if (span) {
      view.hovered = span;
      showTip(span);
    } else if (view.hovered) {
      view.hovered = null;
      tipBox().hidden = true;
    }
  });

  /* j / → next cell, k / ← previous cell; not while typing or working a menu. */
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) ||
              (t.closest && t.closest('[role="combobox"], [role="listbox"], [role="menu"], .dash-dropdown')))) return;
    const id = {j: 'b-next', ArrowRight: 'b-next', k: 'b-prev', ArrowLeft: 'b-prev'}[e.key];
    const button = id && document.getElementById(id);
    if (button) {
      e.preventDefault();
      button.click();
    }
  });

  document.addEventListener('click', function (e) {
    const t = e.target;
    const ex = t.closest && t.closest('#b-excerpts .ex');
    if (ex) {
      view.focus = Number(ex.dataset.pos);
      const box = document.getElementById('b-text');
      if (view.win && view.focus >= view.win.start && view.focus < view.win.stop) focus(box);
      else window.dash_clientside.set_props('b-start', {value: Number(ex.dataset.start)});
      return;
    }
    /* Page links keep the view's query (run, checkpoint, cell...): each page reads what it knows. */
    const link = t.closest && t.closest('a.nav-link');
    if (link) link.href = link.getAttribute('href').split('?')[0] + window.location.search;
  });

  /* Selecting text in the window offers to rank every cell against that span (the Find view, LSTMVis-style). */
  function positionOf(node) {
    const el = node && (node.nodeType === 1 ? node : node.parentElement);
    const col = el && el.closest('#b-text .col');
    const ch = col ? col.querySelector('.ch') : el && el.closest('#b-text .ch');
    return ch ? Number(ch.dataset.i) : NaN;
  }

  document.addEventListener('mouseup', function () {
    const link = document.getElementById('b-span-link');
    if (!link) return;
    const sel = window.getSelection();
    const a = positionOf(sel && sel.anchorNode), b = positionOf(sel && sel.focusNode);
    if (sel.isCollapsed || Number.isNaN(a) || Number.isNaN(b)) {
      link.hidden = true;
      return;
    }
    const lo = Math.min(a, b), hi = Math.max(a, b) + 1, here = new URLSearchParams(window.location.search);
    const q = new URLSearchParams();
    ['run', 'checkpoint'].forEach(function (k) { if (here.get(k)) q.set(k, here.get(k)); });
    q.set('span', lo + '-' + hi);
    link.href = '/find?' + q;
    link.textContent = 'rank cells against the selected span ' + lo + '–' + hi + ' →';
    link.hidden = false;
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cellscope = {
    paint: paint,

    stepCell: function (prev, next, layer, cell, shape) {
      const step = window.dash_clientside.callback_context.triggered_id.endsWith('-prev') ? -1 : 1;  /* b- or cmp- */
      const total = shape.layers * shape.cells;
      const flat = ((layer || 0) * shape.cells + (cell || 0) + step + total) % total;
      const newLayer = Math.floor(flat / shape.cells);
      return [newLayer === layer ? NO() : newLayer, flat % shape.cells];
    },

    stepPage: function (prev, next, start, size, win) {
      const back = window.dash_clientside.callback_context.triggered_id === 'b-page-prev';
      const moved = back ? Math.max(0, (start || 0) - size) : (start || 0) + size;
      return moved === start || (win && moved >= win.total) ? NO() : moved;
    },

    /* Keep the address bar a link to this view without a page reload (Dash's router would re-render). */
    syncUrl: function (checkpoint, layer, cell, kind, start, size, mode, run, concept) {
      if (cell === null || cell === undefined || layer === null || layer === undefined) return;
      const q = new URLSearchParams({run: run, checkpoint: checkpoint, layer: layer, cell: cell, kind: kind,
                                     start: start || 0, size: size});
      if (mode === 'top5') q.set('top5', '1');
      if (concept) q.set('concept', concept);
      window.history.replaceState(window.history.state, '', window.location.pathname + '?' + q);
    },

    showExcerpts: function (html) {
      const el = document.getElementById('b-excerpts');
      if (!el) return;
      el.innerHTML = html || '';
      for (const ex of el.querySelectorAll('.ex')) {
        const at = ex.querySelector('.ch[data-i="' + ex.dataset.pos + '"]');
        if (at) at.classList.add('at');
      }
    },

    keepExact: function (exact) {
      if (!exact) return;
      view.exact = {key: exact.key, values: floats(exact.values)};
      if (view.hovered && document.body.contains(view.hovered)) showTip(view.hovered);
    },

    showRun: function () {
      return new URLSearchParams(window.location.search).get('run') || NO();
    },

    openRun: function (run) {
      if (run && new URLSearchParams(window.location.search).get('run') !== run) {
        window.location.href = window.location.pathname + '?run=' + encodeURIComponent(run);
      }
    },
  };
})();
