# Windows: install (first run) and run the TicketClock daemon on 127.0.0.1:47600.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
if (-not (Test-Path .venv\Scripts\python.exe)) { py -3 -m venv .venv }
.venv\Scripts\python.exe -m pip install -q -e .
.venv\Scripts\ticketclock.exe serve @args
