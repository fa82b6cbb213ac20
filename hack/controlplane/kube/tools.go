//go:build tools

// Package tools keeps the commands this module builds in its requirements.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
