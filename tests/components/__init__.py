"""Real third-party components (OVS, Docker, Podman, libvirt, CNI, sshd, node_exporter) as pytest fixtures."""
