// Keeps the runs table current: every few seconds, the rows as the server
// renders them (escaped there) replace the table's body.
(function () {
  var body = document.getElementById("runs");
  if (!body) return;
  setInterval(function () {
    fetch(body.dataset.live, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (rows) { if (rows !== null) body.innerHTML = rows; })
      .catch(function () {});
  }, 3000);
})();
