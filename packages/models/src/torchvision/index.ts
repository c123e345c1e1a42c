import "./resnet.ts";
import "./vgg.ts";
import "./mobile.ts";
