@echo off
rem kubectl (1.26 and later) runs kubectl_complete-mesh, found on PATH, to
rem complete `kubectl mesh ...` and prints the choices kubectl-mesh gives.
kubectl-mesh.exe __complete %*
