// A small Markdown renderer that builds DOM nodes and sets only textContent: text from the data
// can never become markup. Handles fenced and indented code, headings, lists, quotes, rules,
// paragraphs, and inline code, bold, italics and http(s) links.
"use strict";

(function (global) {
  const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const INDENTED = /^( {4}|\t)/;
  const BLANK = /^\s*$/;
  const INLINE =
    /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|(?<!\w)__(?=\S)([\s\S]*?\S)__(?!\w)|\*(?=[^\s*])([\s\S]*?[^\s*])\*|(?<!\w)_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w)|\[([^\]\n]+)\]\(([^()\s]+)\)/g;

  function el(tag, parent) {
    const node = document.createElement(tag);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, value) {
    const lines = value.split("\n");
    lines.forEach(function (line, i) {
      if (i > 0) el("br", parent);
      if (line) parent.appendChild(document.createTextNode(line));
    });
  }

  function inline(parent, source) {
    let at = 0;
    let m;
    const re = new RegExp(INLINE.source, "g");
    while ((m = re.exec(source)) !== null) {
      if (m.index > at) text(parent, source.slice(at, m.index));
      if (m[1] !== undefined) {
        el("code", parent).textContent = m[2].replace(/^ (.*) $/, "$1");
      } else if (m[3] !== undefined || m[4] !== undefined) {
        inline(el("strong", parent), m[3] !== undefined ? m[3] : m[4]);
      } else if (m[5] !== undefined || m[6] !== undefined) {
        inline(el("em", parent), m[5] !== undefined ? m[5] : m[6]);
      } else if (/^https?:\/\//i.test(m[8])) {
        const link = el("a", parent);
        link.href = m[8];
        link.rel = "noopener noreferrer nofollow";
        inline(link, m[7]);
      } else {
        text(parent, m[0]); // any other scheme stays plain text
      }
      at = re.lastIndex;
    }
    if (at < source.length) text(parent, source.slice(at));
  }

  function startsBlock(line) {
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
      ITEM.test(line);
  }

  let options = {};

  function blocks(parent, lines) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (BLANK.test(line)) {
        i += 1;
      } else if ((m = FENCE.exec(line))) {
        const marker = m[1];
        const body = [];
        i += 1;
        while (i < lines.length) {
          const close = lines[i].trim();
          if (close.startsWith(marker[0].repeat(marker.length)) && /^([`~])\1*$/.test(close)) {
            i += 1;
            break;
          }
          body.push(lines[i]);
          i += 1;
        }
        const pre = el("pre", parent);
        const code = el("code", pre);
        const source = body.join("\n");
        if (m[2]) code.dataset.lang = m[2];
        const tokens = m[2] && options.highlights ? options.highlights.get(m[2] + "\u0000" + source) : null;
        if (tokens && tokens.map((t) => t[1]).join("") === source) {
          // The server's tokens (Pygments), each only a class name and text.
          for (const [cls, value] of tokens) {
            if (cls && /^[a-z0-9]{1,4}$/.test(cls)) {
              const span = el("span", code);
              span.className = "tok-" + cls;
              span.textContent = value;
            } else code.appendChild(document.createTextNode(value));
          }
          pre.classList.add("highlighted");
        } else code.textContent = source;
      } else if (INDENTED.test(line)) {
        const body = [];
        while (i < lines.length && (INDENTED.test(lines[i]) || BLANK.test(lines[i]))) {
          body.push(lines[i].replace(INDENTED, ""));
          i += 1;
        }
        while (body.length && BLANK.test(body[body.length - 1])) body.pop();
        el("code", el("pre", parent)).textContent = body.join("\n");
      } else if ((m = HEADING.exec(line))) {
        // Headings in data sit below the page's own: level 1 becomes h3.
        inline(el("h" + Math.min(6, m[1].length + 2), parent), m[2]);
        i += 1;
      } else if (RULE.test(line)) {
        el("hr", parent);
        i += 1;
      } else if (QUOTE.test(line)) {
        const body = [];
        while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
          body.push(m[1]);
          i += 1;
        }
        blocks(el("blockquote", parent), body);
      } else if ((m = ITEM.exec(line))) {
        const ordered = /\d/.test(m[2]);
        const list = el(ordered ? "ol" : "ul", parent);
        const first = parseInt(m[2], 10);
        if (ordered && first !== 1) list.start = first;
        const indent = m[1].length;
        while (i < lines.length) {
          m = ITEM.exec(lines[i]);
          if (!m || m[1].length > indent + 1 || /\d/.test(m[2]) !== ordered) break;
          const body = [m[3]];
          const nested = [];
          i += 1;
          while (i < lines.length && !BLANK.test(lines[i])) {
            const lead = lines[i].match(/^\s*/)[0].length;
            const sub = ITEM.test(lines[i]);
            if (sub && lead <= indent + 1) break; // the next item of this list
            if (lead <= indent && startsBlock(lines[i])) break;
            if (sub || nested.length) nested.push(lines[i].slice(Math.min(lead, indent + 2)));
            else body.push(lines[i].trim());
            i += 1;
          }
          const li = el("li", list);
          inline(li, body.join("\n"));
          if (nested.length) blocks(li, nested);
          // One blank line between two items keeps them in the same list.
          if (i + 1 < lines.length && BLANK.test(lines[i])) {
            const next = ITEM.exec(lines[i + 1]);
            if (next && next[1].length <= indent + 1 && /\d/.test(next[2]) === ordered) i += 1;
          }
        }
      } else {
        const body = [];
        while (i < lines.length && !BLANK.test(lines[i]) && (body.length === 0 ||
               !startsBlock(lines[i]))) {
          body.push(lines[i]);
          i += 1;
        }
        inline(el("p", parent), body.join("\n"));
      }
    }
  }

  // options.highlights: a Map from language + "\u0000" + code to the server's tokens.
  function render(source, opts) {
    options = opts || {};
    const fragment = document.createDocumentFragment();
    const wrapper = el("div");
    wrapper.className = "md";
    blocks(wrapper, String(source == null ? "" : source).replace(/\r\n?/g, "\n").split("\n"));
    fragment.appendChild(wrapper);
    return fragment;
  }

  global.WHMarkdown = { render: render };
})(window);
