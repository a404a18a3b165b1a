module rss
go 1.26
