-- wrk script for the write yardstick (bench/yardstick.py, POST /write): an empty POST.
wrk.method = "POST"
