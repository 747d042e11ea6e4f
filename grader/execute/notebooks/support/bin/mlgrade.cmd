@echo off
echo mlgrade: "mlgrade %*" skipped while mlgrade grades this notebook
exit /b 0
