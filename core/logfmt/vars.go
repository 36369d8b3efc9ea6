package logfmt

type varCode uint8

const (
	varOptions           varCode = iota // %o: flags for the rest of the format
	varHost                             // %H
	varPid                              // %pid
	varAcceptDate                       // %t
	varAcceptGMT                        // %T
	varAcceptLocal                      // %Tl
	varAcceptUnix                       // %Ts
	varAcceptMs                         // %ms
	varReqDate                          // %tr
	varReqGMT                           // %trg
	varReqLocal                         // %trl
	varClientIP                         // %ci
	varClientPort                       // %cp
	varFrontIP                          // %fi
	varFrontPort                        // %fp
	varServerIP                         // %si
	varServerPort                       // %sp
	varFrontend                         // %f
	varFrontendTransport                // %ft
	varBackend                          // %b
	varServer                           // %s
	varTh                               // %Th
	varTi                               // %Ti
	varTR                               // %TR
	varTq                               // %Tq
	varTw                               // %Tw
	varTc                               // %Tc
	varTr                               // %Tr
	varTd                               // %Td
	varTa                               // %Ta
	varTt                               // %Tt
	varTu                               // %Tu
	varStatus                           // %ST
	varBytesOut                         // %B
	varBytesIn                          // %U
	varReqCookie                        // %CC
	varResCookie                        // %CS
	varTermState                        // %ts
	varTermStateCookie                  // %tsc
	varActConn                          // %ac
	varFeConn                           // %fc
	varBeConn                           // %bc
	varSrvConn                          // %sc
	varRetries                          // %rc
	varReqCounter                       // %rt
	varSrvQueue                         // %sq
	varBeQueue                          // %bq
	varReqCaptures                      // %hr
	varResCaptures                      // %hs
	varReqCapturesList                  // %hrl
	varResCapturesList                  // %hsl
	varRequest                          // %r
	varMethod                           // %HM
	varURI                              // %HU
	varPath                             // %HP
	varQuery                            // %HQ
	varVersion                          // %HV
	varUniqueID                         // %ID
	varSSLVersion                       // %sslv
	varSSLCipher                        // %sslc
	// %[...] expressions.
	varFcErr        // fc_err
	varSSLFcErrHex  // ssl_fc_err,hex
	varSSLFcErr     // ssl_fc_err
	varSSLCErr      // ssl_c_err
	varSSLCCAErr    // ssl_c_ca_err
	varSSLResumed   // ssl_fc_is_resumed
	varSNI          // ssl_fc_sni
	varSSLProtocol  // ssl_fc_protocol
	varSSLCipherExp // ssl_fc_cipher
	varSrc          // src
	varSrcPort      // src_port
	varTraceID      // trace_id (json preset)
	varSpanID       // span_id (json preset)
)

// varNames maps the % variables to their codes (HAProxy's manual, 8.2.4).
var varNames = map[string]varCode{
	"o": varOptions, "H": varHost, "pid": varPid,
	"t": varAcceptDate, "T": varAcceptGMT, "Tl": varAcceptLocal, "Ts": varAcceptUnix, "ms": varAcceptMs,
	"tr": varReqDate, "trg": varReqGMT, "trl": varReqLocal,
	"ci": varClientIP, "cp": varClientPort, "fi": varFrontIP, "fp": varFrontPort, "si": varServerIP, "sp": varServerPort,
	"f": varFrontend, "ft": varFrontendTransport, "b": varBackend, "s": varServer,
	"Th": varTh, "Ti": varTi, "TR": varTR, "Tq": varTq, "Tw": varTw, "Tc": varTc, "Tr": varTr, "Td": varTd, "Ta": varTa, "Tt": varTt, "Tu": varTu,
	"ST": varStatus, "B": varBytesOut, "U": varBytesIn, "CC": varReqCookie, "CS": varResCookie,
	"ts": varTermState, "tsc": varTermStateCookie,
	"ac": varActConn, "fc": varFeConn, "bc": varBeConn, "sc": varSrvConn, "rc": varRetries, "rt": varReqCounter,
	"sq": varSrvQueue, "bq": varBeQueue,
	"hr": varReqCaptures, "hs": varResCaptures, "hrl": varReqCapturesList, "hsl": varResCapturesList,
	"r": varRequest, "HM": varMethod, "HU": varURI, "HP": varPath, "HQ": varQuery, "HV": varVersion,
	"ID": varUniqueID, "sslv": varSSLVersion, "sslc": varSSLCipher,
}

// exprVars are the sample expressions (%[...]) a log format may use: those
// of httpslog and a few of the same kind.
var exprVars = map[string]varCode{
	"fc_err": varFcErr, "ssl_fc_err,hex": varSSLFcErrHex, "ssl_fc_err": varSSLFcErr,
	"ssl_c_err": varSSLCErr, "ssl_c_ca_err": varSSLCCAErr, "ssl_fc_is_resumed": varSSLResumed,
	"ssl_fc_sni": varSNI, "ssl_fc_protocol": varSSLProtocol, "ssl_fc_cipher": varSSLCipherExp,
	"src": varSrc, "src_port": varSrcPort,
}
