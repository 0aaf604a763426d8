// A stand-in until the integration page lands: shows the session and the status as JSON.
(async () => {
  const main = document.getElementById("app");
  const status = await fetch("/api/status", { credentials: "same-origin" });
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(await status.json(), null, 2);
  main.appendChild(pre);
})();
