/* Your own gallery: the Siamese idea on the drawing page. Draw a symbol, name it, enrol it; enrol a
 * few; then draw again, and the page answers with the enrolled name, or "unknown" beyond the
 * threshold, with the distance to every enrolled symbol. No training, and nothing leaves the page.
 *
 * It holds a gallery as siamese_tutorial.gallery.Gallery does: a class's prototype is the mean
 * embedding of its drawings (enrolling again under the same name adds a drawing), and a drawing is
 * answered with the nearest prototype when it is within the threshold. The threshold is the one
 * calibrate_open_set chose, on Omniglot's validation alphabets, for galleries of the size the page
 * holds (runs.js: own_gallery, for a few sizes; a size between two takes the larger one's).
 *
 * For tests: window.siameseDraw gains enrol(name, bits) (bits: a 105 x 105 binary image, ink = 1;
 * without them, the drawing on the canvas), remove(name), resetGallery() and gallery(); setMode("own")
 * answers drawings from this gallery.
 */
(function () {
  "use strict";

  var api = window.siameseDraw;
  if (!api || !api.addMode) return;

  api.addMode("own", "Your own gallery", function (tools) {
    var element = tools.element;
    var classes = [];  // { name, embeddings: [Float32Array], prototype: Float32Array, picture: data URL }
    var UNKNOWN = "unknown";

    var nameInput = element("input", "sdraw-input");
    nameInput.id = "sdraw-name";
    nameInput.type = "text";
    nameInput.maxLength = 40;
    nameInput.placeholder = "a name";
    nameInput.setAttribute("aria-label", "The name to enrol your drawing under");
    var enrolButton = tools.button("sdraw-enrol", "Enrol");
    var resetButton = tools.button("sdraw-reset", "Start again");
    var controls = element("div", "sdraw-mode-controls sdraw-own-controls");
    controls.appendChild(nameInput);
    controls.appendChild(enrolButton);
    controls.appendChild(resetButton);

    var note = element("p", "sdraw-own-note");
    note.id = "sdraw-own-note";
    var list = element("ul", "sdraw-own-list");
    list.id = "sdraw-own-list";
    var panel = element("div", "sdraw-own");
    panel.appendChild(note);
    panel.appendChild(list);

    function calibrationFor(size) {
      var calibrations = tools.data().own_gallery.calibrations;  // by size, ascending
      for (var c = 0; c < calibrations.length; c++) if (calibrations[c].size >= size) return calibrations[c];
      return calibrations[calibrations.length - 1];
    }

    function describe() {
      if (!classes.length) {
        note.textContent = "Draw a symbol, give it a name and enrol it; enrol a few (or a few drawings of one, " +
          "under the same name). Then draw again: the page answers with the nearest enrolled name, or " +
          "\u201cunknown\u201d.";
        return;
      }
      var calibration = calibrationFor(classes.length);
      note.textContent = classes.length + " enrolled. The threshold, " + calibration.threshold.toFixed(3) + (
        calibration.false_accept === undefined ? ", was given, not chosen on data." :
          ", was chosen for galleries of " + calibration.size + " on " + tools.data().own_gallery.on +
          ", where it let in " + (100 * calibration.false_accept).toFixed(1) + "% of strangers and turned away " +
          (100 * calibration.false_reject).toFixed(1) + "% of enrolled characters.");
    }

    function mean(embeddings) {
      var d = embeddings[0].length, prototype = new Float32Array(d);
      for (var k = 0; k < d; k++) {
        var sum = 0;
        for (var e = 0; e < embeddings.length; e++) sum += embeddings[e][k];
        prototype[k] = sum / embeddings.length;
      }
      return prototype;
    }

    function flatPrototypes() {
      var d = classes[0].prototype.length, flat = new Float32Array(classes.length * d);
      for (var c = 0; c < classes.length; c++) flat.set(classes[c].prototype, c * d);
      return flat;
    }

    function showList(result) {
      list.textContent = "";
      for (var c = 0; c < classes.length; c++) {
        var item = element("li", "sdraw-own-item");
        item.setAttribute("data-name", classes[c].name);
        var picture = element("img", "sdraw-own-image");
        picture.src = classes[c].picture;
        picture.alt = "the first drawing of " + classes[c].name;
        var label = element("span", "sdraw-own-label");
        label.appendChild(element("strong", "", classes[c].name));
        var drawings = classes[c].embeddings.length;
        label.appendChild(element("span", "sdraw-caption", drawings + (drawings === 1 ? " drawing" : " drawings")));
        var distance = element("span", "sdraw-distance", result ? result.distances[c].toFixed(3) : "");
        var remove = tools.button("", "Remove");
        remove.removeAttribute("id");
        remove.setAttribute("aria-label", "Remove " + classes[c].name);
        remove.addEventListener("click", api.remove.bind(null, classes[c].name));
        if (result) {
          item.classList.toggle("sdraw-nearest", classes[c].name === result.nearest);
          item.classList.toggle("sdraw-accepted", classes[c].name === result.answer);
        }
        item.appendChild(picture);
        item.appendChild(label);
        item.appendChild(distance);
        item.appendChild(remove);
        list.appendChild(item);
      }
      describe();
    }

    /* The reason a name cannot be enrolled, as Gallery's check_name says it, or "" when it can. */
    function refused(name) {
      if (!name) return "Give the drawing a name first.";
      if (name.toLowerCase() === UNKNOWN) return "\u201cunknown\u201d is the answer for strangers: choose another name.";
      if (/[\u0000-\u001f\u007f]/.test(name)) return "A name cannot hold a line break or a control character.";
      return "";
    }

    function say(text) {
      tools.resetAnswer(text);
      showList(null);
    }

    api.enrol = function (name, bits) {
      name = (name === undefined ? nameInput.value : String(name)).trim();
      var why = refused(name);
      if (why) { say(why); return Promise.resolve(null); }
      if (bits) tools.putBits(bits);
      if (!tools.hasInk()) { say("Draw the symbol in the box first, then enrol it."); return Promise.resolve(null); }
      return tools.embedDrawing().then(function (embedding) {
        if (!embedding) { say("The encoder is still loading: enrol once it is ready."); return null; }
        var known = classes.filter(function (c) { return c.name === name; })[0];
        if (known) {
          known.embeddings.push(new Float32Array(embedding));
          known.prototype = mean(known.embeddings);
        } else {
          var copy = new Float32Array(embedding);
          classes.push({ name: name, embeddings: [copy], prototype: mean([copy]), picture: tools.thumbnail() });
        }
        tools.clear();
        nameInput.value = "";
        say("Enrolled " + name + (known ? " (" + known.embeddings.length + " drawings, their mean)" : "") +
            ". Enrol another, or draw one to be answered.");
        return api.gallery();
      });
    };

    api.remove = function (name) {
      classes = classes.filter(function (c) { return c.name !== name; });
      say(classes.length ? "Removed " + name + "." : "The gallery is empty.");
      return tools.hasInk() && classes.length ? tools.answerAgain() : Promise.resolve(null);
    };

    api.resetGallery = function () {
      classes = [];
      tools.clear();
      say("The gallery is empty.");
      return Promise.resolve(null);
    };

    api.gallery = function () {
      return {
        names: classes.map(function (c) { return c.name; }),
        counts: classes.map(function (c) { return c.embeddings.length; }),
        prototypes: classes.map(function (c) { return Array.prototype.slice.call(c.prototype); }),
        calibration: classes.length ? calibrationFor(classes.length) : null,
      };
    };

    enrolButton.addEventListener("click", function () { api.enrol(); });
    nameInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); api.enrol(); }
    });
    resetButton.addEventListener("click", function () { api.resetGallery(); });

    return {
      controls: controls,
      panel: panel,
      answer: function (embedding) {
        if (!classes.length) {
          say("Nothing is enrolled yet: name your drawing and press Enrol.");
          return null;
        }
        var distances = tools.distancesTo(embedding, flatPrototypes(), classes.length), best = 0;
        for (var c = 1; c < distances.length; c++) if (distances[c] < distances[best]) best = c;
        var calibration = calibrationFor(classes.length);
        var known = distances[best] <= calibration.threshold;
        return { mode: "own", names: classes.map(function (k) { return k.name; }), nearest: classes[best].name,
                 distance: distances[best], distances: distances, answer: known ? classes[best].name : UNKNOWN,
                 threshold: calibration.threshold, size: calibration.size,
                 embedding: Array.prototype.slice.call(embedding) };
      },
      show: function (result) {
        showList(result);
        tools.showVerdict(result, " for galleries of " + result.size);
      },
      reset: function () { showList(null); },
    };
  });
})();
