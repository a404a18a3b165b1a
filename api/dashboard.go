package api

import (
	"embed"
	"io/fs"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// The dashboard's assets, embedded in the binary. They hold no data: the
// page logs in with a data or admin key and reads everything from /v1.
//
//go:embed ui
var dashboardFiles embed.FS

// dashboardCSP allows the page its own scripts, styles and API only.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) dashboard(g *gin.Engine) {
	files, _ := fs.Sub(dashboardFiles, "ui")
	g.GET("/ui", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/ui/") })
	g.GET("/ui/*file", func(c *gin.Context) {
		name := path.Clean(c.Param("file"))
		if name == "/" {
			name = "/index.html"
		}
		b, err := fs.ReadFile(files, name[1:])
		if err != nil {
			s.fail(c, engine.Errorf(engine.CodeNotFound, "no dashboard file %s", name))
			return
		}
		types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
		c.Header("Content-Security-Policy", dashboardCSP)
		c.Header("X-Content-Type-Options", "nosniff")
		c.Header("Referrer-Policy", "no-referrer")
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, types[path.Ext(name)], b)
	})
}
