"""PySAL spopt's maximal covering location problem on an instance written by
`cargo bench -p polis-plan --bench vs_spopt`: reads {demand: [[x, y, w]], candidates: [[x, y]],
radius, p}, solves MCLP with spopt (PuLP + CBC), prints {"covered": weight, "seconds": time}.
Run with a Python that has spopt: python3 -m venv /tmp/spopt && /tmp/spopt/bin/pip install spopt."""
import json
import sys
import time

import numpy as np
import pulp
from spopt.locate import MCLP

inst = json.load(open(sys.argv[1]))
demand = np.array(inst["demand"], dtype=float)
cand = np.array(inst["candidates"], dtype=float)
t0 = time.perf_counter()
# Clients in rows, facilities in columns.
cost = np.hypot(demand[:, None, 0] - cand[None, :, 0], demand[:, None, 1] - cand[None, :, 1])
model = MCLP.from_cost_matrix(cost, demand[:, 2], service_radius=inst["radius"], p_facilities=inst["p"], name="mclp")
model = model.solve(pulp.PULP_CBC_CMD(msg=False))
seconds = time.perf_counter() - t0
chosen = [j for j, v in enumerate(model.fac_vars) if v.value() is not None and v.value() > 0.5]
covered = float(demand[(cost[:, chosen] <= inst["radius"]).any(axis=1), 2].sum()) if chosen else 0.0
print(json.dumps({"covered": covered, "seconds": seconds, "facilities": len(chosen)}))
