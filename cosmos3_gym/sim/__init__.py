"""MuJoCo ground truth: IK, the end-effector controller and the twin environments."""
