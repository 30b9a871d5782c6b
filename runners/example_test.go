package runners_test

import (
	"fmt"
	"log"

	"github.com/atod-project/atod/runners"
)

func ExampleCatalogue_Lookup() {
	c, err := runners.Embedded()
	if err != nil {
		log.Fatal(err)
	}
	l, ok := c.Lookup("c_gcc")
	if !ok {
		log.Fatal("no c_gcc")
	}
	script, _ := c.Script(l.ID) // becomes /ATO/runner in the sandbox
	fmt.Printf("%s (%s) runs in image %s; runner starts %q\n", l.Name, l.URL, l.Image, script[:11])
	fmt.Printf("hello case: options %q, arguments %q, prints %q\n", l.Hello.Options, l.Hello.Arguments, l.Hello.Stdout)
	// Output:
	// C (GCC) (https://gcc.gnu.org) runs in image debian-12; runner starts "#!/bin/bash"
	// hello case: options ["-DEND='!'" "-O2"], arguments ["World"], prints "Hello, World!\n"
}
