"""The posterior object: ScalingFit, its diagnostics, save/load, and the one place ArviZ conversion lives."""
