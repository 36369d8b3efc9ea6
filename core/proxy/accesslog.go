package proxy

// ReopenLogs reopens the access-log file (SIGUSR1, after logrotate renamed
// it); other outputs have nothing to reopen.
func (p *Proxy) ReopenLogs() error {
	if p.Alog == nil {
		return nil
	}
	return p.Alog.Reopen()
}
