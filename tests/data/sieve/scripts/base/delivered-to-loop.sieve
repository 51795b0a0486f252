require "fileinto";
if address :is "delivered-to" "me+lists@example.com" { fileinto "delivered"; }
