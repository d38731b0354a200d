// The book's plotly figures on a narrow screen (a phone): one column of panels, each as wide
// as the figure, colour bars under their panel, the legend and the sliders below the panels
// at full width, titles wrapped. Chosen by the figure's width when the page opens and on every
// resize; a figure wider than NARROW_PX keeps the layout it was built with (the desktop book).
// Each figure gets data-book-layout="narrow" or "wide" once it is laid out (the browser check
// waits for it).
(function () {
  "use strict";
  const NARROW_PX = 600;
  const MARGIN = {l: 55, r: 15, t: 10, b: 10};
  const TITLE_LINE_PX = 20, TITLE_FONT = 15;
  const GAP_PX = 95;          // under a panel: its tick labels, its x-axis title, the next panel's title
  const COLORBAR_PX = 75;     // a horizontal colour bar: its title, bar and tick labels
  const SLIDER_PX = 95;       // one slider: current value, rail and tick labels
  const LEGEND_ROW_PX = 22;
  const MODEBAR_PX = 30;      // plotly's tool bar, above the title

  const get = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  const wide = new WeakMap();
  // The layout each figure was built with, before plotly writes computed ranges and constrained
  // domains into it: recorded from the page's own Plotly.newPlot calls (this file loads first).
  const built = new Map();
  if (window.Plotly && !Plotly._bookRecorded) {
    const newPlot = Plotly.newPlot;
    Plotly.newPlot = function (gd, data, layout, config) {
      const id = typeof gd === "string" ? gd : gd && gd.id;
      const spec = data && !Array.isArray(data) && data.layout !== undefined ? data.layout : layout;
      if (id && !built.has(id) && spec) built.set(id, structuredClone(spec));
      return newPlot.apply(this, arguments);
    };
    Plotly._bookRecorded = true;
  }  // figure -> {layout: {key: value}, traces: [[index, {key: value}]]}

  function wrap(text, chars) {
    return String(text).split(/<br\s*\/?>/i).map(line => {
      const out = [];
      let cur = "";
      for (const word of line.split(" ")) {
        if (cur && (cur + " " + word).replace(/<[^>]*>/g, "").length > chars) { out.push(cur); cur = word; }
        else cur = cur ? cur + " " + word : word;
      }
      out.push(cur);
      return out.join("<br>");
    }).join("<br>");
  }

  // Height over width of the heat maps and images drawn in subplot id (their extent in data units).
  function imageRatio(gd, id) {
    let ratio = 0;
    for (const cd of gd.calcdata || []) {
      const t = cd[0] && cd[0].trace, c = cd[0];
      if (!t || t.xaxis + t.yaxis !== id) continue;
      if (t.type === "heatmap" && c.x && c.y) {
        ratio = Math.max(ratio, Math.abs(c.y[c.y.length - 1] - c.y[0]) / Math.abs(c.x[c.x.length - 1] - c.x[0]));
      } else if (t.type === "image" && c.w && c.h) {
        ratio = Math.max(ratio, (c.h * (t.dy || 1)) / (c.w * (t.dx || 1)));
      }
    }
    return ratio;
  }

  // The panels of a figure (cartesian subplots and 3-D scenes) in reading order, with their
  // domains, the height each wants at width w (images keep their aspect) and their colour bars.
  function panels(gd, w) {
    const fl = gd._fullLayout, out = [];
    for (const [id, p] of Object.entries(fl._plots || {})) {
      const xa = p.xaxis, ya = p.yaxis;
      let ratio = (ya.domain[1] - ya.domain[0]) * 450 / ((xa.domain[1] - xa.domain[0]) * 560);
      if (ya.scaleanchor === xa._id || xa.scaleanchor === ya._id) ratio = imageRatio(gd, id) || ratio;
      out.push({id, x: xa._name, y: ya._name, dom: [xa.domain, ya.domain],
                h: Math.round(Math.min(Math.max(w * ratio, 140), 1.1 * w)), bars: []});
    }
    for (const id of fl._subplots.gl3d || []) {
      out.push({id, scene: id, dom: [fl[id].domain.x, fl[id].domain.y], h: Math.round(Math.min(w, 420)), bars: []});
    }
    gd._fullData.forEach((t, i) => {
      if (!t.showscale || !t.colorbar) return;
      const p = out.find(q => q.id === (t.scene || t.xaxis + t.yaxis));
      if (p) p.bars.push(t.index === undefined ? i : t.index);
    });
    out.sort((a, b) => (b.dom[1][1] - a.dom[1][1]) || (a.dom[0][0] - b.dom[0][0]));
    return out;
  }

  // The narrow layout as flat relayout keys, and the colour-bar restyles per trace.
  function narrowLayout(gd) {
    const fl = gd._fullLayout, layout = gd.layout, width = gd.getBoundingClientRect().width;
    const cartesian = Object.keys(fl._plots || {}).length > 0;
    const l = cartesian ? MARGIN.l : 0, r = cartesian ? MARGIN.r : 0, w = width - l - r;
    const list = panels(gd, w);
    const title = get(layout, "title.text") || (typeof layout.title === "string" ? layout.title : "");
    const titleText = title ? wrap(title, titleChars(width)) : "";
    const top = MARGIN.t + MODEBAR_PX + (titleText ? titleText.split("<br>").length * TITLE_LINE_PX + 10 : 0);
    // Top-down pixel positions inside the plot area.
    let y = 30;  // room for the first panel's title
    const boxes = list.map(p => {
      const box = {top: y, bottom: y + p.h};
      y = box.bottom + (p.scene ? 20 : GAP_PX) + (p.bars.length ? COLORBAR_PX : 0);
      return box;
    });
    const legendShown = fl.showlegend;
    const legendItems = legendShown ? gd._fullData.filter(t => t.showlegend !== false && t.visible !== false) : [];
    const legendChars = legendItems.reduce((s, t) => s + String(t.name || "").length + 6, 0);
    const legendRows = Math.max(1, Math.ceil(legendChars * 7 / w));
    const legendTop = y - 10;
    if (legendShown) y = legendTop + legendRows * LEGEND_ROW_PX + 20;
    const sliders = fl.sliders || [];
    const sliderTop = y;
    y += sliders.length * SLIDER_PX;
    const plotH = y, height = top + plotH + MARGIN.b;
    const py = px => 1 - px / plotH;  // plot-area pixels from the top -> paper y

    const upd = {height, autosize: true, "margin.l": l, "margin.r": r, "margin.t": top, "margin.b": MARGIN.b,
                 "title.text": titleText, "title.font.size": TITLE_FONT, "title.x": 0.5, "title.xanchor": "center",
                 "title.yref": "container", "title.y": 1, "title.yanchor": "top", "title.pad.t": MARGIN.t + MODEBAR_PX};
    list.forEach((p, k) => {
      const dy = [py(boxes[k].bottom), py(boxes[k].top)];
      if (p.scene) { upd[p.scene + ".domain.x"] = [0, 1]; upd[p.scene + ".domain.y"] = dy; }
      else { Object.assign(upd, {[p.x + ".domain"]: [0, 1], [p.y + ".domain"]: dy}); }
    });
    // Paper-referenced annotations over a panel (subplot titles) move to its new top.
    (layout.annotations || []).forEach((a, i) => {
      if ((a.xref || "paper") !== "paper" || (a.yref || "paper") !== "paper") return;
      const k = list.findIndex(p => a.x >= p.dom[0][0] - 1e-6 && a.x <= p.dom[0][1] + 1e-6 &&
                                    a.y >= p.dom[1][0] - 1e-6 && a.y <= p.dom[1][1] + 0.2);
      if (k < 0) return;
      const p = list[k];
      Object.assign(upd, {[`annotations[${i}].x`]: (a.x - p.dom[0][0]) / (p.dom[0][1] - p.dom[0][0]),
                          [`annotations[${i}].y`]: py(boxes[k].top), [`annotations[${i}].yanchor`]: "bottom"});
    });
    if (legendShown) {
      Object.assign(upd, {"legend.orientation": "h", "legend.x": 0, "legend.xanchor": "left",
                          "legend.y": py(legendTop), "legend.yanchor": "top"});
    }
    sliders.forEach((s, k) => {
      Object.assign(upd, {[`sliders[${k}].x`]: 0, [`sliders[${k}].len`]: 1, [`sliders[${k}].xanchor`]: "left",
                          [`sliders[${k}].y`]: py(sliderTop + k * SLIDER_PX), [`sliders[${k}].yanchor`]: "top"});
    });
    const restyles = [];
    list.forEach((p, k) => p.bars.forEach(i => {
      restyles.push([i, {"colorbar.orientation": "h", "colorbar.x": 0.5, "colorbar.xanchor": "center",
                         "colorbar.y": py(boxes[k].bottom + GAP_PX - 30), "colorbar.yanchor": "top",
                         "colorbar.len": 1, "colorbar.lenmode": "fraction", "colorbar.thickness": 12,
                         "colorbar.title.side": "top"}]);
    }));
    return {upd, restyles};
  }

  const copy = x => structuredClone(x === undefined ? null : x);  // keeps typed arrays (heat maps)

  // Set "a.b[2].c" in a nested object, creating what is missing.
  function put(obj, key, value) {
    const path = key.replace(/\[(\d+)\]/g, ".$1").split(".");
    let o = obj;
    path.slice(0, -1).forEach((k, i) => {
      if (o[k] == null || typeof o[k] !== "object") o[k] = /^\d+$/.test(path[i + 1]) ? [] : {};
      o = o[k];
    });
    o[path[path.length - 1]] = value;
  }

  function titled(layout, width) {
    const t = layout && layout.title;
    const text = t && typeof t === "object" ? t.text : t;
    if (text) put(layout, "title", {...(typeof t === "object" ? t : {}), text: wrap(text, titleChars(width))});
  }

  const titleChars = width => Math.floor((width - 20) / (TITLE_FONT * 0.55));

  // A figure is redrawn whole (Plotly.newPlot): restyling a colour bar's orientation in place
  // leaves the old tick labels drawn. The frames get wrapped titles and no colour bars of their
  // own, so a slider step keeps the narrow layout.
  async function adapt(gd) {
    if (!gd._fullLayout || !window.Plotly || gd._bookBusy) return;
    const narrow = gd.parentElement.getBoundingClientRect().width < NARROW_PX;
    if ((gd.dataset.bookLayout || "wide") === (narrow ? "narrow" : "wide")) {
      gd.dataset.bookLayout = narrow ? "narrow" : "wide";
      return;
    }
    gd._bookBusy = true;
    try {
      const frames = (gd._transitionData && gd._transitionData._frames) || [];
      let figure;
      if (narrow) {
        const {upd, restyles} = narrowLayout(gd);
        const original = built.get(gd.id) || gd.layout;
        const state = {data: copy(gd.data), layout: copy(original), frames: copy(frames),
                       heights: [gd.style.height, gd.parentElement.style.height]};
        wide.set(gd, state);
        const data = copy(gd.data), layout = copy(original), narrowFrames = copy(frames);
        for (const [key, value] of Object.entries(upd)) put(layout, key, value);
        const bars = new Map(restyles);
        for (const [i, style] of bars) for (const [key, value] of Object.entries(style)) put(data[i], key, value);
        const width = gd.getBoundingClientRect().width;
        for (const f of narrowFrames) {
          titled(f.layout, width);
          (f.traces || []).forEach((i, j) => {
            // A frame that restates a colour bar would redraw it in place, leaving stale ticks:
            // the colour bar stays as the narrow layout placed it.
            if (bars.has(i) && f.data && f.data[j]) delete f.data[j].colorbar;
          });
        }
        figure = {data, layout, frames: narrowFrames};
        // The emitted div and its wrapper have fixed heights; autosize follows the div's.
        gd.style.height = upd.height + "px";
        gd.parentElement.style.height = "auto";
      } else {
        const state = wide.get(gd);
        wide.delete(gd);
        figure = {data: state.data, layout: state.layout, frames: state.frames};
        [gd.style.height, gd.parentElement.style.height] = state.heights;
      }
      // newPlot's promise waits for every image to load; do not hold the layout mark on it.
      const drawn = Plotly.newPlot(gd, {...figure, config: gd._context});
      await Promise.race([drawn, new Promise(resolve => setTimeout(resolve, 2000))]);
      gd.dataset.bookLayout = narrow ? "narrow" : "wide";
    } finally {
      gd._bookBusy = false;
    }
  }

  function watch(gd) {
    if (gd._bookWatched) return;
    gd._bookWatched = true;
    adapt(gd);
  }

  function all() {
    const figures = [...document.querySelectorAll(".plotly-graph-div")];
    figures.filter(gd => gd._fullLayout && gd.on).forEach(watch);
    return figures.every(gd => gd._bookWatched);
  }

  function start() {
    if (all()) return;
    const timer = setInterval(() => { if (all()) clearInterval(timer); }, 100);
    setTimeout(() => clearInterval(timer), 20000);
  }

  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => document.querySelectorAll(".plotly-graph-div").forEach(gd => adapt(gd)), 150);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
