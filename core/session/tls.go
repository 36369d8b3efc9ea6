package session

// TLS describes the TLS layer of a client connection once its handshake is
// done, as the ssl_* sample fetches see it. The engine fills it once, in
// the connection's goroutine, before the tcp-request session rules; it is
// read-only afterwards.
type TLS struct {
	// Version is the protocol version (0x0303 for TLS 1.2, 0x0304 for
	// TLS 1.3, the crypto/tls constants).
	Version uint16
	// CipherSuite is the negotiated cipher suite (crypto/tls constant).
	CipherSuite uint16
	// SNI is the server name the client asked for; "" when it sent none.
	SNI string
	// ALPN is the application protocol negotiated; "" when none was.
	// The HTTP layer reads it to choose its codec.
	ALPN string
	// Resumed reports a session resumed from a ticket.
	Resumed bool
	// ClientCert reports that the client presented a certificate (it was
	// verified: a certificate that fails verification ends the handshake).
	ClientCert bool
	// ClientDN is the subject of the client certificate in OpenSSL's
	// one-line form, "/C=FR/O=Example/CN=client", as HAProxy's ssl_c_s_dn
	// prints it; "" without a certificate.
	ClientDN string
	// Verify is the result of the client certificate verification, 0
	// when it succeeded or when none was asked for, as HAProxy's
	// ssl_c_verify (an X509_V_ERR_* code otherwise).
	Verify int
}
