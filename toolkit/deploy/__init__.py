"""Deployment targets for a compose stack: images in a registry, isolated compose environments,
Docker Swarm stacks and Kubernetes manifests, all read from one stack model (``_stack``)."""
