"""World-model training: windows from episodes, the flow-matching loss over the three modes, the loop."""
