require "fileinto";
if header :is ["X-Empty"] [""] {
   fileinto "empty-header";
}
if header :contains ["X-Caffeine"] [""] {
   fileinto "caffeine";
}
