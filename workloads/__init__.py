"""Pure builders of Kubernetes manifests (plain dicts) for every PromptSales workload.

The Pulumi program, the operator and ``promptsales render`` all call these functions,
so each workload is described exactly once. Nothing in this package does I/O.
"""
