"""Variant B: kinematic TCP prior, but the state's joints stay the network's (no override).

python benchmarks/results/experiments/v17/run_network_joints.py <benchmarks/fidelity.py arguments>
"""

import runpy
import sys

import cosmos3_gym.model.prior as prior

sys.path.insert(0, "benchmarks")
prior.CommandPrior.with_joints = lambda self, pred, joints: pred
sys.argv = ["benchmarks/fidelity.py", *sys.argv[1:]]
runpy.run_path("benchmarks/fidelity.py", run_name="__main__")
