package protocol_test

import (
	"fmt"

	"github.com/atod-project/atod/protocol"
	"github.com/tinylib/msgp/msgp"
)

func ExampleDecodeRequest() {
	known := func(language string) bool { return language == "python" }

	// What a client sends: a msgpack map. Strings are accepted where the
	// contract says bin, and the timeout may be left out.
	frame := msgp.AppendMapHeader(nil, 5)
	frame = msgp.AppendString(frame, "language")
	frame = msgp.AppendString(frame, "python")
	frame = msgp.AppendString(frame, "code")
	frame = msgp.AppendString(frame, "print(input())")
	frame = msgp.AppendString(frame, "input")
	frame = msgp.AppendBytes(frame, []byte("hello"))
	frame = msgp.AppendString(frame, "options")
	frame = msgp.AppendArrayHeader(frame, 0)
	frame = msgp.AppendString(frame, "arguments")
	frame = msgp.AppendArrayHeader(frame, 1)
	frame = msgp.AppendString(frame, "-v")

	req, err := protocol.DecodeRequest(frame, known)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %q input=%q arguments=%q timeout=%d\n", req.Language, req.Code, req.Input, req.Arguments, req.Timeout)

	// A frame with a byte after the map is refused; CloseFor says how.
	_, err = protocol.DecodeRequest(append(frame, 0), known)
	code, reason := protocol.CloseFor(err)
	fmt.Println(int(code), reason)

	// Output:
	// python "print(input())" input="hello" arguments=["-v"] timeout=60
	// 1008 invalid request: found extra data
}
