package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/testkit/reporoot"
)

// wellKnown are methods that implement a standard interface, whose meaning the interface documents.
var wellKnown = map[string]bool{"Error": true, "Unwrap": true, "String": true, "Read": true, "Write": true,
	"Close": true, "MarshalJSON": true, "UnmarshalJSON": true, "ServeHTTP": true, "Is": true, "As": true}

// TestExportedNamesAreDocumented: every exported function, method (of an exported type, but for the
// methods of standard interfaces), type, and constant or variable outside a documented group has a doc
// comment.
func TestExportedNamesAreDocumented(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(reporoot.Of(t), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(reporoot.Of(t), path)
		undocumented := func(name string, pos token.Pos) {
			t.Errorf("%s:%d: %s has no doc comment", rel, fset.Position(pos).Line, name)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || d.Doc != nil {
					continue
				}
				if d.Recv != nil && (!exportedReceiver(d.Recv) || wellKnown[d.Name.Name]) {
					continue
				}
				undocumented(d.Name.Name, d.Pos())
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
							undocumented(s.Name.Name, s.Pos())
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
								undocumented(n.Name, n.Pos())
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func exportedReceiver(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
