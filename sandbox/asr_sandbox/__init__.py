"""Local stand-ins for Azure Resource Manager and the Kubernetes API, spoken to over real HTTP."""
