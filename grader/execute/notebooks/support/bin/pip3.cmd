@echo off
echo mlgrade: "pip %*" skipped while grading (no network, fixed environment)
exit /b 0
