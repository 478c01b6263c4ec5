package miniotest

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill minio when the test process dies, so a
// test binary killed by a timeout leaves no server behind.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
