# SPDX-License-Identifier: MIT
# A warm Python workload for templates: pandas imported once, then each piece of code
# written to the FIFO /tmp/in runs in this interpreter and its output comes back on
# /tmp/out. /tmp/ready says it waits for code.
import contextlib
import io
import os
import traceback

import pandas

for p in ("/tmp/in", "/tmp/out"):
    if not os.path.exists(p):
        os.mkfifo(p)
scope = {"pandas": pandas, "pd": pandas}
open("/tmp/ready", "w").close()
while True:
    with open("/tmp/in") as f:
        code = f.read()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec(code, scope)
        except Exception:
            traceback.print_exc(file=out)
    with open("/tmp/out", "w") as f:
        f.write(out.getvalue())
