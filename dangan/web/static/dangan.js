// Dangan 档案 — the little script the pages need (served from /static: CSP allows no inline script).
(function () {
  "use strict";

  // Buttons that ask before they act: <button data-confirm="确定？">
  document.addEventListener("submit", function (ev) {
    var btn = ev.submitter;
    var msg = (btn && btn.getAttribute("data-confirm")) || ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });

  // Selects that jump: <select data-go> whose option values are URLs.
  document.querySelectorAll("select[data-go]").forEach(function (sel) {
    sel.addEventListener("change", function () { if (sel.value) { window.location = sel.value; } });
  });

  // Upload: drag and drop onto the drop zone fills the file input.
  var drop = document.querySelector(".drop");
  var input = document.querySelector("input[type=file][name=files]");
  if (drop && input) {
    var list = document.querySelector("#chosen");
    var show = function () {
      if (!list) { return; }
      var names = [];
      for (var i = 0; i < input.files.length; i++) { names.push(input.files[i].name); }
      list.textContent = names.length ? "已选择 " + names.length + " 个文件：" + names.join("、") : "";
    };
    ["dragenter", "dragover"].forEach(function (t) {
      drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
    });
    drop.addEventListener("click", function (e) { if (e.target === drop) { input.click(); } });
    input.addEventListener("change", show);
  }

  // Batch page: poll the batch's JSON and update the table until it is finished.
  var batch = document.querySelector("[data-batch-url]");
  if (batch) {
    var url = batch.getAttribute("data-batch-url");
    var names = {ingested: "已入库", queued: "待分类", duplicate: "重复", rejected: "拒收", pending: "等待", running: "处理中"};
    var set = function (sel, text) { var el = batch.querySelector(sel); if (el) { el.textContent = text; } };
    var tick = function () {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (b) {
          set("[data-done]", b.done + " / " + b.total);
          set("[data-rate]", b.pages_per_second + " 页/秒");
          set("[data-eta]", b.finished ? "已完成" : (b.eta_seconds === null ? "估算中" : "约 " + b.eta_seconds + " 秒"));
          var bar = batch.querySelector(".progress > div");
          if (bar) { bar.style.width = (b.total ? Math.round(100 * b.done / b.total) : 100) + "%"; }
          b.jobs.forEach(function (j) {
            var row = batch.querySelector("tr[data-job='" + j.id + "']");
            if (!row) { return; }
            var st = row.querySelector("[data-status]");
            st.textContent = names[j.status] || j.status;
            st.className = "tag " + j.status;
            row.querySelector("[data-no]").textContent = j.archive_no || "";
            row.querySelector("[data-title]").textContent = j.title || "";
            row.querySelector("[data-pages]").textContent = j.pages || "";
            row.querySelector("[data-error]").textContent = j.error || "";
          });
          if (b.finished) { batch.setAttribute("data-finished", "1"); set("[data-state]", "已完成"); }
          else { window.setTimeout(tick, 1000); }
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    };
    tick();
  }
})();
