/* Draw a character, see the match: the shipped triplet encoder in the reader's browser.
 *
 * The assets come from the package (siamese_tutorial/browser.py, written by `make book` into
 * generated/): each official run's 20 training images and their gallery prototypes, the gallery
 * thresholds (runs.js, 0.5 MB), the encoder as ONNX with its test-time shifts inside (encoder.onnx),
 * and onnxruntime-web's WebAssembly build (14 MB). The page draws its canvas and run picker at once,
 * from runs.js, and only then loads the runtime and the encoder, so that a reader can read and draw
 * while they arrive; a drawing made before is answered when they have. Served over http the page
 * fetches the .wasm and .onnx files themselves; opened from the disk (file://), where a page may
 * load scripts but not fetch, it loads the same bytes in base64 as scripts (ort-wasm-embedded.js,
 * encoder.js).
 *
 * A drawing is read as the package reads the official runs: a 105 x 105 binary picture, ink = 1,
 * area-averaged to the encoder's S x S exactly as PyTorch's adaptive average pooling does; the
 * distances to a gallery's prototypes are Euclidean, and above the threshold the answer is "unknown".
 *
 * Two modes answer a drawing: an official run's gallery (here), and the reader's own gallery
 * (own.js), which plugs in through api.addMode(name, label, make): make(tools) returns
 * { controls, panel, answer(embedding), show(result), reset(text) }, and tools gives it the drawing
 * (embedDrawing, bits, clear, thumbnail), the data of runs.js and the status line.
 *
 * For tests and for curious readers: window.siameseDraw has ready (a Promise), setBits(bits),
 * clear(), selectRun(name), setMode(name), idle() (a Promise of the last answer asked for),
 * lastResult and answered (how many answers were given); own.js adds its own (enrol, remove, ...).
 */
(function () {
  "use strict";

  var root = document.getElementById("siamese-draw");
  if (!root) return;
  var assets = root.getAttribute("data-assets") || "./";
  var generated = assets + "generated/";

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function base64Bytes(text) {
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  /* A User Timing mark, for benchmarks/pages.py: when the canvas, the runs, the encoder and the first answer came. */
  function mark(name) {
    if (window.performance && performance.mark) performance.mark(name);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(id, text) {
    var node = element("button", "sdraw-button", text);
    node.id = id;
    node.type = "button";
    return node;
  }

  // ------------------------------------------------------------------ the page's elements

  var status = element("p", "sdraw-status", "Loading the characters\u2026");
  status.id = "sdraw-status";
  var tabs = element("div", "sdraw-tabs");
  tabs.setAttribute("role", "group");
  tabs.setAttribute("aria-label", "What your drawing is compared with");
  var canvas = element("canvas", "sdraw-canvas");
  canvas.id = "sdraw-canvas";
  canvas.setAttribute("aria-label", "Draw a character here with the mouse or a finger");
  var preview = element("canvas", "sdraw-preview");
  preview.id = "sdraw-preview";
  preview.setAttribute("aria-label", "What the encoder sees");
  var clearButton = button("sdraw-clear", "Clear");
  var runSelect = element("select", "sdraw-select");
  runSelect.id = "sdraw-run";
  var runLabel = element("label", "sdraw-label", "Official run ");
  runLabel.appendChild(runSelect);
  var answer = element("p", "sdraw-answer", "Draw a character in the box.");
  answer.id = "sdraw-answer";
  answer.setAttribute("aria-live", "polite");
  var grid = element("div", "sdraw-grid");
  grid.id = "sdraw-grid";

  var drawPanel = element("div", "sdraw-panel sdraw-panel-draw");
  var controls = element("div", "sdraw-controls");
  var runControls = element("div", "sdraw-mode-controls");
  runControls.appendChild(runLabel);
  controls.appendChild(runControls);
  controls.appendChild(clearButton);
  var seen = element("div", "sdraw-seen");
  seen.appendChild(preview);
  seen.appendChild(element("span", "sdraw-caption", "what the encoder sees"));
  drawPanel.appendChild(canvas);
  drawPanel.appendChild(controls);
  drawPanel.appendChild(seen);
  var resultPanel = element("div", "sdraw-panel sdraw-panel-result");
  resultPanel.appendChild(answer);
  resultPanel.appendChild(grid);
  root.appendChild(status);
  root.appendChild(tabs);
  var layout = element("div", "sdraw-layout");
  layout.appendChild(drawPanel);
  layout.appendChild(resultPanel);
  root.appendChild(layout);
  mark("sdraw-canvas");

  // ------------------------------------------------------------------ drawing

  var data = null;          // runs.js
  var session = null;       // onnxruntime-web's session
  var run = null;           // the chosen run
  var prototypes = null;    // Float32Array (20 * D)
  var hasInk = false;
  var stroke = null;        // the pointer drawing now, and its last point
  var pending = Promise.resolve();
  var api = { ready: null, lastResult: null, answered: 0 };
  window.siameseDraw = api;

  var SIZE = 105;
  canvas.width = SIZE;
  canvas.height = SIZE;
  var context = canvas.getContext("2d", { willReadFrequently: true });
  // Omniglot's strokes are about 5 pixels wide at 105 x 105 (the runs' images: 5 to 7 pixels of ink across).
  var LINE_WIDTH = 5;

  function point(event) {
    var box = canvas.getBoundingClientRect();
    return { x: (event.clientX - box.left) * SIZE / box.width, y: (event.clientY - box.top) * SIZE / box.height };
  }

  function dot(p) {
    context.beginPath();
    context.arc(p.x, p.y, LINE_WIDTH / 2, 0, 2 * Math.PI);
    context.fill();
  }

  function line(from, to) {
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(to.x, to.y);
    context.stroke();
  }

  function clearCanvas() {
    context.clearRect(0, 0, SIZE, SIZE);
    context.fillStyle = "#000";
    context.strokeStyle = "#000";
    context.lineWidth = LINE_WIDTH;
    context.lineCap = "round";
    context.lineJoin = "round";
    hasInk = false;
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    if (canvas.setPointerCapture) canvas.setPointerCapture(event.pointerId);
    stroke = { id: event.pointerId, last: point(event) };
    dot(stroke.last);
    hasInk = true;
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!stroke || event.pointerId !== stroke.id) return;
    event.preventDefault();
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    if (!events.length) events = [event];
    for (var i = 0; i < events.length; i++) {
      var p = point(events[i]);
      line(stroke.last, p);
      stroke.last = p;
    }
  });
  function endStroke(event) {
    if (!stroke || event.pointerId !== stroke.id) return;
    stroke = null;
    classify();
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  clearCanvas();  // the canvas takes drawings at once, before the runs and the encoder arrive
  clearButton.addEventListener("click", function () { api.clear(); });
  runSelect.addEventListener("change", function () { api.selectRun(runSelect.value); });

  /* Put a 105 x 105 binary image (ink = 1, row-major) on the canvas, answering nothing. */
  function putBits(bits) {
    clearCanvas();
    var picture = context.createImageData(SIZE, SIZE);
    for (var i = 0; i < SIZE * SIZE; i++) picture.data[4 * i + 3] = bits[i] ? 255 : 0;
    context.putImageData(picture, 0, 0);
    hasInk = true;
  }

  /* The drawing as a small picture, dark on white, for a list of what was enrolled. */
  function thumbnail() {
    var small = element("canvas");
    small.width = small.height = SIZE;
    var sctx = small.getContext("2d");
    sctx.fillStyle = "#fff";
    sctx.fillRect(0, 0, SIZE, SIZE);
    sctx.drawImage(canvas, 0, 0);
    return small.toDataURL("image/png");
  }

  // ------------------------------------------------------------------ reading a drawing as the package does

  /* The canvas as the package's 105 x 105 binary image (ink = 1): a pixel is ink when it is more than half covered. */
  function drawingBits() {
    var pixels = context.getImageData(0, 0, SIZE, SIZE).data;
    var bits = new Float32Array(SIZE * SIZE);
    for (var i = 0; i < SIZE * SIZE; i++) bits[i] = pixels[4 * i + 3] >= 128 ? 1 : 0;
    return bits;
  }

  /* PyTorch's adaptive_avg_pool2d from n x n to m x m: cell i covers [floor(i n / m), ceil((i + 1) n / m)). */
  function areaAverage(bits, n, m) {
    var out = new Float32Array(m * m);
    for (var i = 0; i < m; i++) {
      var y0 = Math.floor(i * n / m), y1 = Math.ceil((i + 1) * n / m);
      for (var j = 0; j < m; j++) {
        var x0 = Math.floor(j * n / m), x1 = Math.ceil((j + 1) * n / m);
        var sum = 0;
        for (var y = y0; y < y1; y++) for (var x = x0; x < x1; x++) sum += bits[y * n + x];
        out[i * m + j] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
    return out;
  }

  function showPreview(image, m) {
    preview.width = m;
    preview.height = m;
    var pctx = preview.getContext("2d");
    var picture = pctx.createImageData(m, m);
    for (var i = 0; i < m * m; i++) {
      var v = Math.round(255 * (1 - image[i]));
      picture.data[4 * i] = picture.data[4 * i + 1] = picture.data[4 * i + 2] = v;
      picture.data[4 * i + 3] = 255;
    }
    pctx.putImageData(picture, 0, 0);
  }

  function embed(image) {
    var m = data.image_size;
    var input = new ort.Tensor("float32", image, [1, 1, m, m]);
    return session.run({ image: input }).then(function (outputs) { return outputs.embedding.data; });
  }

  /* The drawing's embedding (a Float32Array), or null while the encoder is not there or nothing is drawn. */
  function embedDrawing() {
    if (!session || !hasInk) return Promise.resolve(null);
    var image = areaAverage(drawingBits(), SIZE, data.image_size);
    showPreview(image, data.image_size);
    return embed(image);
  }

  /* Euclidean distances from an embedding to each of the prototypes (a Float32Array of n * D). */
  function distancesTo(embedding, flat, n) {
    var d = data.embedding_dim, distances = [];
    for (var c = 0; c < n; c++) {
      var sum = 0;
      for (var k = 0; k < d; k++) {
        var diff = embedding[k] - flat[c * d + k];
        sum += diff * diff;
      }
      distances.push(Math.sqrt(sum));
    }
    return distances;
  }

  // ------------------------------------------------------------------ an official run's gallery

  function showRun() {
    grid.textContent = "";
    for (var c = 0; c < run.names.length; c++) {
      var cell = element("figure", "sdraw-cell");
      cell.setAttribute("data-name", run.names[c]);
      var img = element("img", "sdraw-image");
      img.src = run.images[c];
      img.alt = run.names[c];
      cell.appendChild(img);
      var caption = element("figcaption", "sdraw-distance", run.names[c]);
      cell.appendChild(caption);
      grid.appendChild(cell);
    }
  }

  var runsMode = {
    controls: runControls,
    panel: grid,
    answer: function (embedding) {
      if (!run) return null;
      var distances = distancesTo(embedding, prototypes, run.names.length), best = 0;
      for (var c = 1; c < distances.length; c++) if (distances[c] < distances[best]) best = c;
      var known = distances[best] <= data.threshold;
      return { mode: "runs", run: run.name, nearest: run.names[best], distance: distances[best],
               distances: distances, answer: known ? run.names[best] : "unknown", threshold: data.threshold,
               embedding: Array.prototype.slice.call(embedding) };
    },
    show: function (result) {
      var cells = grid.children;
      for (var c = 0; c < cells.length; c++) {
        cells[c].classList.toggle("sdraw-nearest", run.names[c] === result.nearest);
        cells[c].classList.toggle("sdraw-accepted", run.names[c] === result.nearest && result.answer !== "unknown");
        cells[c].lastChild.textContent = result.distances[c].toFixed(3);
      }
      showVerdict(result, "");
    },
    reset: function () {
      var cells = grid.children;
      for (var c = 0; c < cells.length; c++) {
        cells[c].classList.remove("sdraw-nearest", "sdraw-accepted");
        cells[c].lastChild.textContent = run.names[c];
      }
    },
  };

  /* The answer line: the name within the threshold, else "unknown" and how far the nearest is. */
  function showVerdict(result, threshold_note) {
    answer.className = "sdraw-answer " + (result.answer === "unknown" ? "sdraw-unknown" : "sdraw-known");
    answer.textContent = result.answer === "unknown"
      ? "unknown: the nearest, " + result.nearest + ", is at " + result.distance.toFixed(3) +
        ", beyond the threshold " + result.threshold.toFixed(3) + threshold_note + "."
      : result.answer + " (distance " + result.distance.toFixed(3) + ", within the threshold " +
        result.threshold.toFixed(3) + threshold_note + ").";
    answer.setAttribute("data-answer", result.answer);
  }

  // ------------------------------------------------------------------ modes

  var modes = {};
  var modeName = "runs";

  function resetAnswer(text) {
    api.lastResult = null;
    answer.className = "sdraw-answer";
    answer.textContent = text;
    answer.removeAttribute("data-answer");
    modes[modeName].reset();
  }

  function addMode(name, label, mode) {
    modes[name] = mode;
    var tab = button("sdraw-mode-" + name, label);
    tab.className = "sdraw-button sdraw-tab";
    tab.setAttribute("data-mode", name);
    tab.setAttribute("aria-pressed", name === modeName ? "true" : "false");
    tab.addEventListener("click", function () { api.setMode(name); });
    tabs.appendChild(tab);
    if (mode.controls.parentNode !== controls) controls.insertBefore(mode.controls, clearButton);
    if (mode.panel.parentNode !== resultPanel) resultPanel.appendChild(mode.panel);
    mode.controls.hidden = mode.panel.hidden = name !== modeName;
  }

  /* Embed the drawing and answer it in the current mode; calls are queued, so the answer shown is the last drawing's. */
  function classify() {
    pending = pending.then(function () {
      var mode = modes[modeName];
      return embedDrawing().then(function (embedding) {
        if (!embedding) return null;
        var result = mode.answer(embedding);
        if (!result) return null;
        api.lastResult = result;
        api.answered += 1;
        mode.show(result);
        if (api.answered === 1) mark("sdraw-answer");
        return result;
      });
    }).catch(function (error) {
      status.textContent = "The encoder failed: " + error.message;
      status.className = "sdraw-status sdraw-error";
      return null;
    });
    return pending;
  }

  addMode("runs", "An official run", runsMode);

  api.idle = function () { return pending; };

  api.clear = function () {
    clearCanvas();
    showPreview(new Float32Array(data ? data.image_size * data.image_size : 1), data ? data.image_size : 1);
    if (run) resetAnswer("Draw a character in the box.");
  };

  /* Put a 105 x 105 binary image (ink = 1, row-major) on the canvas and answer it. */
  api.setBits = function (bits) {
    putBits(bits);
    return classify();
  };

  api.selectRun = function (name) {
    for (var r = 0; r < data.runs.length; r++) {
      if (data.runs[r].name !== name) continue;
      run = data.runs[r];
      runSelect.value = name;
      var bytes = base64Bytes(run.prototypes);
      prototypes = new Float32Array(bytes.buffer);
      showRun();
      if (hasInk && modeName === "runs") return classify();
      if (modeName === "runs") resetAnswer("Draw a character in the box.");
      return Promise.resolve(null);
    }
    return Promise.reject(new Error("no run named " + name));
  };

  /* Answer drawings with an official run ("runs") or another mode (own.js: "own"). */
  api.setMode = function (name) {
    if (!modes[name]) return Promise.reject(new Error("no mode named " + name));
    modeName = name;
    var buttons = tabs.children;
    for (var b = 0; b < buttons.length; b++) {
      buttons[b].setAttribute("aria-pressed", buttons[b].getAttribute("data-mode") === name ? "true" : "false");
    }
    for (var other in modes) modes[other].controls.hidden = modes[other].panel.hidden = other !== name;
    root.setAttribute("data-mode", name);
    resetAnswer("Draw a character in the box.");
    return hasInk ? classify() : Promise.resolve(null);
  };

  /* A mode from another script (own.js): make(tools) returns the mode. */
  api.addMode = function (name, label, make) {
    addMode(name, label, make({
      embedDrawing: function () { pending = pending.then(embedDrawing); return pending; },
      answerAgain: classify,
      bits: drawingBits,
      putBits: putBits,
      hasInk: function () { return hasInk; },
      clear: api.clear,
      thumbnail: thumbnail,
      distancesTo: distancesTo,
      showVerdict: showVerdict,
      resetAnswer: resetAnswer,
      element: element,
      button: button,
      data: function () { return data; },
      status: status,
    }));
  };

  // ------------------------------------------------------------------ starting

  var fromDisk = location.protocol === "file:";

  function startRuntime() {
    ort.env.wasm.numThreads = 1;  // threads need cross-origin isolation, which neither files nor GitHub Pages give
    ort.env.wasm.proxy = false;
    if (fromDisk) {
      // No fetch from a file: the WebAssembly and its loader come as a script, in base64 and as text.
      return loadScript(generated + "ort-wasm-embedded.js").then(function () {
        var embedded = window.SIAMESE_DRAW_ORT;
        ort.env.wasm.wasmBinary = base64Bytes(embedded.wasm);
        var loader = URL.createObjectURL(new Blob([embedded.glue], { type: "text/javascript" }));
        ort.env.wasm.wasmPaths = { mjs: loader };
      });
    }
    ort.env.wasm.wasmPaths = new URL(generated, location.href).href;
    return Promise.resolve();
  }

  /* The encoder's ONNX bytes: fetched by onnxruntime-web from its URL, or from a script on a file page. */
  function model() {
    if (!fromDisk) return Promise.resolve(new URL(generated + "encoder.onnx", location.href).href);
    return loadScript(generated + "encoder.js").then(function () { return base64Bytes(window.SIAMESE_DRAW_MODEL); });
  }

  function describeThreshold() {
    return "a run's gallery threshold " + data.threshold.toFixed(3) +
      (data.calibration.false_accept === undefined ? "." :
        ", chosen on " + data.calibration.on + ", where it lets in " +
        (100 * data.calibration.false_accept).toFixed(1) + "% of strangers and turns away " +
        (100 * data.calibration.false_reject).toFixed(1) + "% of enrolled characters.");
  }

  function fail(prefix) {
    return function (error) {
      if (root.getAttribute("data-ready") === "error") throw error;  // said once, by the first step that failed
      status.textContent = prefix + error.message;
      status.className = "sdraw-status sdraw-error";
      root.setAttribute("data-ready", "error");
      throw error;
    };
  }

  // First the runs (the picker, the characters, the canvas), then the runtime and the encoder.
  var runsReady = loadScript(generated + "runs.js")
    .then(function () {
      data = window.SIAMESE_DRAW_RUNS;
      for (var r = 0; r < data.runs.length; r++) {
        var option = element("option", "", data.runs[r].name + ": " + data.runs[r].alphabet);
        option.value = data.runs[r].name;
        runSelect.appendChild(option);
      }
      status.textContent = "Loading the encoder and its runtime (about 15 MB, once)\u2026 You can draw meanwhile.";
      root.setAttribute("data-runs", "true");
      var shown = api.selectRun(data.runs[0].name);
      mark("sdraw-runs");
      return shown;
    })
    .catch(fail("The runs could not be loaded: "));

  api.ready = runsReady
    .then(function () { return loadScript(generated + "ort.wasm.min.js"); })
    .then(startRuntime)
    .then(model)
    .then(function (bytes) { return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] }); })
    .then(function (created) {
      session = created;
      mark("sdraw-ready");
      status.textContent = "The " + data.encoder + " encoder runs in your browser (onnxruntime-web, " +
        "test-time shifts " + data.shifts + "); " + describeThreshold();
      status.className = "sdraw-status sdraw-ready";
      root.setAttribute("data-ready", "true");
      return hasInk ? classify() : null;
    })
    .catch(fail("The encoder could not start: "));
})();
