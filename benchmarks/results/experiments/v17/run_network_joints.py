"""Variant B: kinematic TCP prior, but the state's joints stay the network's (no override)."""
import runpy, sys
sys.path.insert(0, "benchmarks")
import cosmos3_gym.model.prior as P
P.CommandPrior.with_joints = lambda self, pred, joints: pred
sys.argv = ["benchmarks/fidelity.py"] + sys.argv[1:]
runpy.run_path("benchmarks/fidelity.py", run_name="__main__")
