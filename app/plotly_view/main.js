// ITA's Plotly chart for Streamlit (a custom component, protocol v1 written by hand).
//
// Streamlit sends `streamlit:render` with args {figure, config, height, plan}; the chart is
// drawn with Plotly.react (a rerun with a new focus updates it in place, no flash). After every
// change of the x range (pan, wheel zoom, double-click reset) and after every render, the price
// axis is fitted to the low/high of the candles whose bar is visible (and to the focused plan's
// entry/stop/target while its bars are visible), the volume axis to their highest volume, as
// TradingView does. Nothing is sent back to Python: a pan never reruns the app.
"use strict";

const PAD = 0.06; // of the visible price span, above and below (as PriceChart.focus)
const graph = document.getElementById("graph");
let series = {candles: [], volumes: []};
let plan = null;
let height = 0;

function send(type, data) {
  window.parent.postMessage({isStreamlitMessage: true, type: type, ...data}, "*");
}

// Plotly's JSON keeps numpy arrays as {dtype, bdata} (base64 of the raw values).
const TYPED = {f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array,
               i2: Int16Array, u2: Uint16Array, i1: Int8Array, u1: Uint8Array};

function values(array) {
  if (array == null) return [];
  if (Array.isArray(array) || ArrayBuffer.isView(array)) return array;
  if (array.bdata !== undefined) {
    const raw = atob(array.bdata);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new TYPED[array.dtype](bytes.buffer);
  }
  return [];
}

// A time as the axis' number: ms since 1970 of the naive local time read as UTC, as Plotly's
// date axes do ("2023-03-01T00:15", "2023-03-01 00:15:30.5").
function parseTime(t) {
  return typeof t === "number" ? t : Date.parse(String(t).trim().replace(" ", "T") + "Z");
}

// The candles and volume bars of the figure, their times as numbers.
function readSeries(data) {
  const times = (x) => Float64Array.from(values(x), parseTime);
  const found = {candles: [], volumes: []};
  for (const trace of data) {
    if (trace.type === "candlestick") {
      found.candles.push({x: times(trace.x), low: values(trace.low), high: values(trace.high)});
    } else if (trace.type === "bar" && trace.yaxis === "y2") {
      found.volumes.push({x: times(trace.x), y: values(trace.y)});
    }
  }
  return found;
}

// The first index whose time is >= t (times sorted).
function firstAtOrAfter(times, t) {
  let lo = 0, hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// The axis ranges that fit the candles visible in [x0, x1] (and the plan while its bars are
// visible): {"yaxis.range", "yaxis2.range"}, or null when no candle is visible.
function fitted(x0, x1) {
  let low = Infinity, high = -Infinity, volume = 0;
  for (const s of series.candles) {
    for (let i = firstAtOrAfter(s.x, x0); i < s.x.length && s.x[i] <= x1; i++) {
      if (s.low[i] < low) low = s.low[i];
      if (s.high[i] > high) high = s.high[i];
    }
  }
  if (!isFinite(low) || !isFinite(high)) return null;
  for (const s of series.volumes) {
    for (let i = firstAtOrAfter(s.x, x0); i < s.x.length && s.x[i] <= x1; i++) {
      if (s.y[i] > volume) volume = s.y[i];
    }
  }
  if (plan && parseTime(plan.x0) <= x1 && parseTime(plan.x1) >= x0) {
    for (const price of plan.prices) {
      if (price < low) low = price;
      if (price > high) high = price;
    }
  }
  const pad = (high - low) * PAD || Math.abs(high) * 0.001 || 1;
  const fit = {"yaxis.range": [low - pad, high + pad]};
  if (volume > 0) fit["yaxis2.range"] = [0, volume * 1.05];
  return fit;
}

// The x range the figure will show: its own, the trader's (same uirevision: Plotly keeps a
// pan or zoom across reruns), else all bars.
function expectedRange(layout) {
  const own = layout.xaxis && layout.xaxis.range;
  if (own) return own.map(parseTime);
  const shown = graph._fullLayout && graph._fullLayout.xaxis;
  if (shown && graph.layout.uirevision === layout.uirevision) return shown.range.map(shown.r2l);
  let first = Infinity, last = -Infinity;
  for (const s of series.candles) {
    if (s.x.length) { first = Math.min(first, s.x[0]); last = Math.max(last, s.x[s.x.length - 1]); }
  }
  return [first, last];
}

function same(a, b) {
  return a && b && Math.abs(a[0] - b[0]) < 1e-9 * Math.abs(b[0] || 1)
    && Math.abs(a[1] - b[1]) < 1e-9 * Math.abs(b[1] || 1);
}

// Fit the y axes to the x range shown now; nothing to draw when they fit already.
function refit() {
  const axis = graph._fullLayout && graph._fullLayout.xaxis;
  if (!axis || !axis.range) return;
  const x0 = axis.r2l(axis.range[0]), x1 = axis.r2l(axis.range[1]);
  const fit = fitted(Math.min(x0, x1), Math.max(x0, x1));
  if (!fit) return; // no candle visible: leave the axes alone
  graph.__itaFitted = fit["yaxis.range"]; // read by the browser test
  const y2 = graph._fullLayout.yaxis2;
  if (same(graph._fullLayout.yaxis.range, fit["yaxis.range"])
      && (!fit["yaxis2.range"] || !y2 || same(y2.range, fit["yaxis2.range"]))) return;
  if (!y2) delete fit["yaxis2.range"];
  return Plotly.relayout(graph, fit);
}

function movedX(update) {
  return Object.keys(update).some((key) => key.startsWith("xaxis"));
}

async function render(args) {
  const started = performance.now();
  if (args.height !== height) {
    height = args.height;
    send("streamlit:setFrameHeight", {height: height});
  }
  const figure = args.figure, layout = figure.layout;
  plan = args.plan || null;
  series = readSeries(figure.data);
  for (const [name, axis] of Object.entries(layout)) {
    // room for the tick labels, as st.plotly_chart's theme gives them
    if (/^[xy]axis\d*$/.test(name) && axis.automargin === undefined) axis.automargin = true;
  }
  // fitted before the draw: one draw per render, not a draw and a refit
  const [x0, x1] = expectedRange(layout);
  const fit = fitted(Math.min(x0, x1), Math.max(x0, x1));
  if (fit) {
    layout.yaxis = {...layout.yaxis, range: fit["yaxis.range"]};
    if (fit["yaxis2.range"] && layout.yaxis2) {
      layout.yaxis2 = {...layout.yaxis2, range: fit["yaxis2.range"]};
    }
  }
  const config = {responsive: true, ...args.config};
  await Plotly.react(graph, figure.data, layout, config);
  if (!graph.__itaListening) {
    graph.on("plotly_relayout", (update) => { if (movedX(update)) refit(); });
    graph.__itaListening = true;
  }
  await refit();
  // read by the browser test: how many renders, how long the last one took in the browser
  graph.__itaRendered = (graph.__itaRendered || 0) + 1;
  graph.__itaDrawMs = performance.now() - started;
}

let queue = Promise.resolve();
window.addEventListener("message", (event) => {
  if (event.data && event.data.type === "streamlit:render") {
    const args = event.data.args;
    queue = queue.then(() => render(args)).catch((error) => console.error(error));
  }
});
send("streamlit:componentReady", {apiVersion: 1});
