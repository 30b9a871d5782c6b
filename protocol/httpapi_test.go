package protocol

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeJSONRequest(t *testing.T) {
	known := func(id string) bool { return id == "python" }
	base := `"language": "python", "code": "print(1)", "input": "", "options": [], "arguments": []`
	tests := []struct {
		name, body string
		reason     string // "" for success
		check      func(t *testing.T, r Request)
	}{
		{"minimal", "{" + base + "}", "", func(t *testing.T, r Request) {
			if r.Timeout != 60 || string(r.Code) != "print(1)" || r.CustomRunner != nil {
				t.Errorf("%+v", r)
			}
		}},
		{"base64 bytes", `{"language": "python", "code": {"base64": "/wA="}, "input": "x", "options": [{"base64": "LU8="}], "arguments": ["a"], "timeout": 5, "custom_runner": "echo"}`, "", func(t *testing.T, r Request) {
			if string(r.Code) != "\xff\x00" || string(r.Options[0]) != "-O" || r.Timeout != 5 || string(r.CustomRunner) != "echo" {
				t.Errorf("%+v", r)
			}
		}},
		{"unknown keys ignored", "{" + base + `, "colour": [1, 2], "colour": 3}`, "", nil},
		{"duplicate field", "{" + base + `, "code": "print(2)"}`, "invalid request: duplicate field: code", nil},
		{"null", "null", "invalid request: invalid JSON: expected an object, got null", nil},
		{"unterminated", "{" + base, "invalid request: invalid JSON: *", nil},
		{"extra data", "{" + base + "} {}", "invalid request: found extra data", nil},
		{"not JSON", "language=python", "invalid request: invalid JSON: *", nil},
		{"not an object", "[1]", "invalid request: invalid JSON: *", nil},
		{"missing code", `{"language": "python", "input": "", "options": [], "arguments": []}`, "invalid request: missing field: code", nil},
		{"code a number", `{"language": "python", "code": 5, "input": "", "options": [], "arguments": []}`, "invalid request: code: *", nil},
		{"code null", `{"language": "python", "code": null, "input": "", "options": [], "arguments": []}`, "invalid request: code: expected a string*", nil},
		{"bad base64", `{"language": "python", "code": {"base64": "%%"}, "input": "", "options": [], "arguments": []}`, "invalid request: code: invalid base64*", nil},
		{"options not an array", `{"language": "python", "code": "", "input": "", "options": "-O", "arguments": []}`, "invalid request: options: expected an array", nil},
		{"NUL in option", `{"language": "python", "code": "", "input": "", "options": ["a\u0000"], "arguments": []}`, "invalid request: argument contains null byte", nil},
		{"NUL in argument", `{"language": "python", "code": "", "input": "", "options": [], "arguments": [{"base64": "AA=="}]}`, "invalid request: argument contains null byte", nil},

		// Lax binaries: an array of integers 0-255 wherever a byte string is.
		{"byte arrays", `{"language": "python", "code": [112, 40, 41], "input": [ 104 , 105 ], "options": [[45, 79], "-u"], "arguments": [[], [255, 1]], "custom_runner": [101]}`, "", func(t *testing.T, r Request) {
			want := Request{Language: "python", Code: []byte("p()"), Input: []byte("hi"), Options: [][]byte{[]byte("-O"), []byte("-u")}, Arguments: [][]byte{{}, {255, 1}}, Timeout: 60, CustomRunner: []byte("e")}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("got %#v\nwant %#v", r, want)
			}
		}},
		{"empty byte arrays", `{"language": "python", "code": [], "input": [], "options": [[]], "arguments": []}`, "", func(t *testing.T, r Request) {
			if r.Code == nil || len(r.Code) != 0 || r.Input == nil || len(r.Input) != 0 || len(r.Options) != 1 || r.Options[0] == nil || len(r.Options[0]) != 0 {
				t.Errorf("%#v", r)
			}
		}},
		{"-0 and 0 are bytes", `{"language": "python", "code": [-0, 0], "input": "", "options": [], "arguments": []}`, "", func(t *testing.T, r Request) {
			if string(r.Code) != "\x00\x00" {
				t.Errorf("code %q", r.Code)
			}
		}},
		{"NUL in option as byte array", `{"language": "python", "code": "", "input": "", "options": [[97, 0]], "arguments": []}`, "invalid request: argument contains null byte", nil},
		{"code element 256", `{"language": "python", "code": [97, 98, 99, 256], "input": "", "options": [], "arguments": []}`, "invalid request: code[3]: expected a byte 0-255, got 256", nil},
		{"code element -1", `{"language": "python", "code": [-1], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got -1", nil},
		{"code element huge", `{"language": "python", "code": [18446744073709551616], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got 18446744073709551616", nil},
		{"code element float", `{"language": "python", "code": [1.5], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got float", nil},
		{"code element integral float", `{"language": "python", "code": [1, 65.0], "input": "", "options": [], "arguments": []}`, "invalid request: code[1]: expected a byte 0-255, got float", nil},
		{"code element exponent", `{"language": "python", "code": [1e2], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got float", nil},
		{"code element string", `{"language": "python", "code": [1, "a"], "input": "", "options": [], "arguments": []}`, "invalid request: code[1]: expected a byte 0-255, got string", nil},
		{"code element null", `{"language": "python", "code": [null], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got null", nil},
		{"code element bool", `{"language": "python", "code": [true], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got bool", nil},
		{"code element array", `{"language": "python", "code": [[1]], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got array", nil},
		{"code element object", `{"language": "python", "code": [{}], "input": "", "options": [], "arguments": []}`, "invalid request: code[0]: expected a byte 0-255, got object", nil},
		{"input element 256", `{"language": "python", "code": "", "input": [256], "options": [], "arguments": []}`, "invalid request: input[0]: expected a byte 0-255, got 256", nil},
		{"custom_runner element -1", `{"language": "python", "code": "", "input": "", "options": [], "arguments": [], "custom_runner": [-1]}`, "invalid request: custom_runner[0]: expected a byte 0-255, got -1", nil},
		{"option element 256", `{"language": "python", "code": "", "input": "", "options": ["-u", [45, 256]], "arguments": []}`, "invalid request: options[1][1]: expected a byte 0-255, got 256", nil},
		{"argument element string", `{"language": "python", "code": "", "input": "", "options": [], "arguments": [["a"]]}`, "invalid request: arguments[0][0]: expected a byte 0-255, got string", nil},
		{"options a flat array of bytes", `{"language": "python", "code": "", "input": "", "options": [45, 117], "arguments": []}`, "invalid request: options[0]: expected a string, {\"base64\": \"...\"} or an array of bytes", nil},
		{"language a byte array", `{"language": [112], "code": "", "input": "", "options": [], "arguments": []}`, `invalid request: language: expected a string or {"base64": "..."}`, nil},
		{"timeout 0", "{" + base + `, "timeout": 0}`, "invalid request: timeout not in range 1-60: 0", nil},
		{"timeout 61", "{" + base + `, "timeout": 61}`, "invalid request: timeout not in range 1-60: 61", nil},
		{"timeout -4", "{" + base + `, "timeout": -4}`, "invalid request: timeout not in range 1-60: -4", nil},
		{"timeout huge", "{" + base + `, "timeout": 18446744073709551616}`, "invalid request: timeout not in range 1-60: 18446744073709551616", nil},
		{"timeout float", "{" + base + `, "timeout": 60.0}`, "invalid request: timeout: expected an integer, got float", nil},
		{"timeout string", "{" + base + `, "timeout": "60"}`, "invalid request: timeout: expected an integer", nil},
		{"timeout null", "{" + base + `, "timeout": null}`, "invalid request: timeout: expected an integer", nil},
		{"unknown language", `{"language": "ZSH", "code": "", "input": "", "options": [], "arguments": []}`, "invalid request: no such language: ZSH", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeJSONRequest([]byte(tt.body), known)
			switch {
			case tt.reason == "":
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if tt.check != nil {
					tt.check(t, r)
				}
			case err == nil:
				t.Fatalf("no error, want %q", tt.reason)
			case strings.HasSuffix(tt.reason, "*"):
				if p := strings.TrimSuffix(tt.reason, "*"); !strings.HasPrefix(err.Error(), p) {
					t.Errorf("error %q, want prefix %q", err, p)
				}
			case err.Error() != tt.reason:
				t.Errorf("error %q, want %q", err, tt.reason)
			}
			if err != nil {
				if _, ok := err.(*RequestError); !ok {
					t.Errorf("error is a %T, not a *RequestError", err)
				}
			}
		})
	}
}

func TestExecuteResponseJSON(t *testing.T) {
	b, err := json.Marshal(ExecuteResponse{Stdout: []byte("hi\n"), Stderr: []byte{0xff}, StatusType: "exited", OOMKilled: true})
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"stdout":"hi\n"`, `"stderr":{"base64":"/w=="}`, `"status_type":"exited"`, `"oom_killed":true`, `"cpu_throttled_time":0`} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON %s lacks %s", got, want)
		}
	}
	if strings.Count(got, `"stdout"`) != 1 {
		t.Errorf("stdout twice: %s", got)
	}
}

func TestIsKillAndAppendOutput(t *testing.T) {
	kill := []byte{0xa4, 'K', 'i', 'l', 'l'}
	for _, tt := range []struct {
		msg  []byte
		want bool
	}{
		{kill, true},
		{[]byte{0xc4, 4, 'K', 'i', 'l', 'l'}, true},
		{append(kill, 0xc0), false},
		{[]byte{0xa4, 'k', 'i', 'l', 'l'}, false},
		{[]byte{0x81, 0xa4, 'K', 'i', 'l', 'l', 0xc0}, false},
		{nil, false},
	} {
		if got := IsKill(tt.msg); got != tt.want {
			t.Errorf("IsKill(%x) = %v", tt.msg, got)
		}
	}
	got := AppendOutput(nil, Stdout, []byte("hi"))
	want := []byte{0x81, 0xa6, 'S', 't', 'd', 'o', 'u', 't', 0xc4, 2, 'h', 'i'}
	if string(got) != string(want) {
		t.Errorf("AppendOutput = %x, want %x", got, want)
	}
}
